const { Keyring } = require('@polkadot/keyring');
const { cryptoWaitReady, signatureVerify } = require('@polkadot/util-crypto');
const { u8aToHex, u8aWrapBytes, stringToU8a } = require('@polkadot/util');
(async () => {
  await cryptoWaitReady();
  const uris = ['//Alice', '//Alice/soft', '//Alice///secret', '//1', '//01', '//Alice//stash', '0x0707070707070707070707070707070707070707070707070707070707070707', '0x0707070707070707070707070707070707070707070707070707070707070707//x', '//' + 'x'.repeat(40), '//Alice/0', '//Alice/18446744073709551615', 'bottom drive obey lake curtain smoke basket hold race lonely fit walk//Bob'];
  const out = {};
  for (const type of ['sr25519', 'ed25519']) {
    const kr = new Keyring({ type, ss58Format: 126 });
    for (const uri of uris) {
      try { out[type + ' ' + uri] = u8aToHex(kr.addFromUri(uri).publicKey); } catch (e) { out[type + ' ' + uri] = 'ERR ' + e.message; }
    }
  }
  // Wrapped signature made by polkadot-js, for Rust to verify.
  const kr = new Keyring({ type: 'sr25519', ss58Format: 126 });
  const alice = kr.addFromUri('//Alice');
  const msg = '{"memberId":1,"accountId":"' + alice.address + '","dataObjectId":2,"storageBucketId":3,"bagId":"dynamic:member:1"}';
  out.wrappedSig = u8aToHex(alice.sign(u8aWrapBytes(msg)));
  out.wrappedMsg = msg;
  out.checkWrapped = signatureVerify(msg, out.wrappedSig, alice.address);
  console.log(JSON.stringify(out, null, 1));
})();
