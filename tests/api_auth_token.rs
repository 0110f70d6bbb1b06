//! POST /api/v1/authToken against the real binary: every token request vector of
//! shared/vectors/joystream-compat.json (made with the reference node's own libraries) gets a
//! token that verifies against the node's key; tampered and malformed requests, members
//! controlled by someone else and unknown members are refused; and a member with a key made
//! at random in the test goes through the whole flow: token, upload, byte-identical GET.

mod common;

use base64::Engine as _;
use colossus::auth::js_json::{self, JsObject, JsString, JsValue};
use colossus::auth::keys::{self, CryptoScheme, KeyPair, PublicKey};
use colossus::auth::token_request::MAX_TOKEN_REQUEST_BYTES;
use colossus::auth::upload_token::verify_upload_token;
use common::*;

/// The shared vectors, parsed keeping the key order.
fn vectors() -> JsValue {
    js_json::parse(&vectors_json()).expect("the vectors file is JSON")
}

fn list<'a>(vectors: &'a JsValue, name: &str) -> &'a [JsValue] {
    vectors
        .get(name)
        .and_then(JsValue::as_array)
        .unwrap_or_else(|| panic!("vectors have no {name} list"))
}

/// The value at `path` (object keys) in `value`.
fn at<'a>(value: &'a JsValue, path: &[&str]) -> &'a JsValue {
    path.iter().fold(value, |at, key| {
        at.get(key)
            .unwrap_or_else(|| panic!("no {path:?} in {value:?}"))
    })
}

fn text(value: &JsValue, path: &[&str]) -> String {
    at(value, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path:?} is not a string"))
}

fn number(value: &JsValue, path: &[&str]) -> u64 {
    at(value, path)
        .as_safe_u64()
        .unwrap_or_else(|| panic!("{path:?} is not an id"))
}

/// The public key of an SS58 address.
fn public_key_of(address: &str) -> PublicKey {
    PublicKey(
        colossus::auth::ss58::decode(address)
            .expect("SS58 address")
            .public_key,
    )
}

/// The node's key on a --dev node: //Bob.
fn dev_node_key() -> PublicKey {
    KeyPair::from_uri("//Bob", CryptoScheme::Sr25519)
        .unwrap()
        .public_key()
}

/// The node's key on a --dev node, checked against `nodeSr25519` in the vectors.
fn node_key(vectors: &JsValue) -> PublicKey {
    let address = text(vectors, &["accounts", "nodeSr25519", "address"]);
    let dev = dev_node_key();
    assert_eq!(dev.to_joystream_address(), address);
    let from_vector = public_key_of(&address);
    assert_eq!(from_vector.0, dev.0);
    assert_eq!(
        from_vector.to_hex(),
        text(vectors, &["accounts", "nodeSr25519", "publicKey"])
    );
    from_vector
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn post_token(node: &Node, body: &[u8]) -> Answer {
    request(
        "POST",
        &node.url("/authToken"),
        &[("Content-Type", "application/json")],
        Some(body),
    )
}

/// POSTs a token request over a raw connection with `framing` (its Content-Length or
/// Transfer-Encoding line), for bodies the node refuses before reading them whole.
fn post_token_raw(node: &Node, framing: &str, body: &[u8]) -> String {
    let headers = format!("Content-Type: application/json\r\n{framing}\r\n");
    post_raw(node, "/api/v1/authToken", &headers, body)
}

/// A request body `{"data": <message>, "signature": "0x..."}` with `message` exactly as signed.
fn signed_body(key: &KeyPair, message: &str) -> String {
    let signature = colossus::auth::hex::encode(&key.sign(message.as_bytes()));
    format!(r#"{{"data":{message},"signature":"{signature}"}}"#)
}

/// The token request `data` of a member, in the key order the reference's clients use.
fn request_data(
    member_id: u64,
    account: &str,
    object_id: u64,
    bucket_id: u64,
    bag: &str,
) -> String {
    format!(
        r#"{{"memberId":{member_id},"accountId":"{account}","dataObjectId":{object_id},"storageBucketId":{bucket_id},"bagId":"{bag}"}}"#
    )
}

/// Token request `data` of member 1 (`account`) for object 1, with an extra field of
/// `pad_bytes` bytes, which is signed like the rest: a well-formed request of any size.
fn padded_request_data(account: &str, pad_bytes: usize) -> String {
    let pad = "x".repeat(pad_bytes);
    format!(
        r#"{{"memberId":1,"accountId":"{account}","dataObjectId":1,"storageBucketId":0,"bagId":"static:council","pad":"{pad}"}}"#
    )
}

/// A well-formed request of member 1 signed by //Alice, padded to exactly `len` bytes.
fn signed_body_of_len(len: usize) -> String {
    let key = alice_key();
    let account = key.public_key().to_joystream_address();
    // The signature's hex has a fixed length, so the overhead is the same for every pad.
    let overhead = signed_body(&key, &padded_request_data(&account, 0)).len();
    let body = signed_body(&key, &padded_request_data(&account, len - overhead));
    assert_eq!(body.len(), len);
    body
}

/// POSTs `body` raw with a Content-Length (the node may answer and close before the body is
/// all written, which ureq would report as a broken pipe instead of reading the answer).
fn post_token_sized(node: &Node, body: &str) -> String {
    post_token_raw(
        node,
        &format!("Content-Length: {}", body.len()),
        body.as_bytes(),
    )
}

/// Checks a 201 answer's token: base64url without padding of `{"data": {nonce, validUntil,
/// ...request data in the client's order}, "signature"}`, signed by the node's key over
/// exactly the JSON text of `data`, valid for about the token lifetime. Returns the nonce.
fn check_token(answer: &Answer, node_key: &PublicKey, signed_message: &str, ttl_ms: u64) -> String {
    answer.assert_status(201);
    assert!(
        answer
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{:?}",
        answer.headers
    );
    let json = answer.json();
    let token = json["token"].as_str().expect("token is a string");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "not unpadded base64url: {token}"
    );
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .expect("token is base64url");
    let root = js_json::parse(&decoded).expect("token is JSON");
    let root = root.as_object().expect("token is an object");
    let keys: Vec<String> = root
        .entries()
        .iter()
        .map(|(k, _)| k.to_rust_string().unwrap())
        .collect();
    assert_eq!(keys, ["data", "signature"]);
    let data = root.get("data").and_then(JsValue::as_object).expect("data");
    let data_text = js_json::object_to_string(data);
    // The node's fields first, then the request's data exactly as the client wrote it.
    let nonce = data.get("nonce").and_then(JsValue::as_str).expect("nonce");
    let valid_until = data
        .get("validUntil")
        .and_then(JsValue::as_safe_u64)
        .expect("validUntil");
    assert_eq!(
        data_text,
        format!(
            r#"{{"nonce":"{nonce}","validUntil":{valid_until},{}"#,
            &signed_message[1..]
        )
    );
    assert!(!nonce.is_empty() && nonce.len() <= 64, "{nonce}");
    let now = now_ms();
    assert!(
        valid_until > now && valid_until <= now + ttl_ms + 1000,
        "validUntil {valid_until}, now {now}, ttl {ttl_ms}"
    );
    // The signature, by hand: the node's key over the JSON text of `data`.
    let signature_hex = root
        .get("signature")
        .and_then(JsValue::as_str)
        .expect("signature");
    let signature = colossus::auth::hex::decode(&signature_hex).expect("signature hex");
    let signature: [u8; 64] = signature.try_into().expect("a 64-byte signature");
    assert!(keys::verify(
        CryptoScheme::Sr25519,
        node_key,
        data_text.as_bytes(),
        &signature
    ));
    // And through the library the node redeems with.
    let claims = verify_upload_token(token, node_key, now).expect("token verifies");
    assert_eq!(claims.nonce, nonce);
    // Another key does not verify it.
    let alice = alice_key();
    assert!(verify_upload_token(token, &alice.public_key(), now).is_err());
    nonce
}

#[test]
fn every_valid_vector_gets_a_token_signed_by_the_node() {
    let vectors = vectors();
    let node = Node::start_dev(&[]);
    let bob = node_key(&vectors);
    // Member 1 is //Alice on a --dev node; the vectors also use member 12345 (//Alice) and
    // member 0 (//Charlie, ed25519).
    let alice = text(&vectors, &["accounts", "memberSr25519", "address"]);
    let charlie = text(&vectors, &["accounts", "memberEd25519", "address"]);
    add_member(&node, 12345, &alice);
    add_member(&node, 0, &charlie);

    let requests = list(&vectors, "tokenRequests");
    assert!(
        requests.len() >= 3,
        "expected at least three token request vectors"
    );
    let mut schemes = Vec::new();
    for vector in requests {
        assert_eq!(vector.get("valid").and_then(JsValue::as_bool), Some(true));
        schemes.push(text(vector, &["crypto"]));
        let body = js_json::to_string(vector.get("body").unwrap());
        let signed_message = text(vector, &["signedMessage"]);
        let answer = post_token(&node, body.as_bytes());
        let first = check_token(&answer, &bob, &signed_message, 30_000);
        // The same request again: another token with another nonce (nonces are single-use).
        let again = post_token(&node, body.as_bytes());
        let second = check_token(&again, &bob, &signed_message, 30_000);
        assert_ne!(first, second, "two tokens share a nonce");
        // Whitespace around the JSON does not change what is signed: the node re-serialises
        // `data` in the client's key order, as JSON.stringify would.
        let pretty = js_json::to_string(vector.get("body").unwrap())
            .replace(",\"", ",\n    \"")
            .replace("\":", "\" : ")
            .replace("{", "{\n  ");
        let answer = post_token(&node, format!("  {pretty}\n").as_bytes());
        check_token(&answer, &bob, &signed_message, 30_000);
    }
    assert!(schemes.iter().any(|s| s == "sr25519"), "{schemes:?}");
    assert!(schemes.iter().any(|s| s == "ed25519"), "{schemes:?}");

    // The first vector's token is good for the upload it names (object 42 in
    // dynamic:channel:7, bucket 0): the node redeems what it issued.
    let first = &requests[0];
    assert_eq!(number(first, &["body", "data", "dataObjectId"]), 42);
    let bag = text(first, &["body", "data", "bagId"]);
    let bytes = content(42, 12_345);
    create_object(&node, 42, &bag, &bytes);
    let body = js_json::to_string(first.get("body").unwrap());
    let token = post_token(&node, body.as_bytes()).json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    upload(&node, 42, &bag, &bytes, Some(&token)).assert_status(201);
    assert!(get(&node.url("/files/42")).body == bytes);
}

#[test]
fn the_upload_token_vectors_verify_against_the_dev_node_key() {
    // The node verifies tokens with the same library, and its key is //Bob: the reference's
    // tokens (signed by //Bob, valid until 2030) verify, and tampering breaks them.
    let vectors = vectors();
    let bob = node_key(&vectors);
    for vector in list(&vectors, "uploadTokens") {
        assert_eq!(text(vector, &["issuer"]), bob.to_joystream_address());
        let token = text(vector, &["token"]);
        let claims = verify_upload_token(&token, &bob, now_ms()).expect("vector token verifies");
        assert_eq!(claims.nonce, text(vector, &["tokenBody", "nonce"]));
        assert_eq!(
            claims.data_object_id,
            number(vector, &["tokenBody", "dataObjectId"])
        );
        assert_eq!(claims.bag_id, text(vector, &["tokenBody", "bagId"]));
        assert_eq!(
            js_json::object_to_string(&claims.data),
            text(vector, &["signedMessage"])
        );
        // One character changed in the middle of the token.
        let mut tampered = token.clone().into_bytes();
        let at = tampered.len() / 3;
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(verify_upload_token(&tampered, &bob, now_ms()).is_err());
    }
}

#[test]
fn tampered_requests_are_unauthorized_and_malformed_ones_bad_requests() {
    let vectors = vectors();
    let node = Node::start_dev(&[]);

    // The vectors that must not verify: 401 with a JSON error.
    let bad = list(&vectors, "badSignatures");
    assert!(!bad.is_empty());
    for vector in bad {
        assert_eq!(vector.get("valid").and_then(JsValue::as_bool), Some(false));
        let body = js_json::to_string(vector.get("body").unwrap());
        let json = post_token(&node, body.as_bytes()).assert_error(401);
        assert_eq!(
            json["type"],
            "unauthorized",
            "{}: {json}",
            text(vector, &["why"])
        );
    }

    // Tampering with the first valid vector in other ways.
    let valid = &list(&vectors, "tokenRequests")[0];
    let signed = text(valid, &["signedMessage"]);
    let signature = text(valid, &["body", "signature"]);
    let body =
        |data: &str, signature: &str| format!(r#"{{"data":{data},"signature":"{signature}"}}"#);
    // The untouched request is fine (the baseline of every case below).
    assert_eq!(
        post_token(&node, body(&signed, &signature).as_bytes()).status,
        201
    );
    // The same fields in another order: another message, so the signature does not match.
    let reordered = signed.replacen(r#"{"memberId":1,"accountId":"#, r#"{"accountId":"#, 1);
    let reordered = reordered.replacen(r#","dataObjectId""#, r#","memberId":1,"dataObjectId""#, 1);
    assert_ne!(reordered, signed);
    let json = post_token(&node, body(&reordered, &signature).as_bytes()).assert_error(401);
    assert_eq!(json["type"], "unauthorized");
    // Another bag, another bucket, one more field.
    let cases = [
        signed.replace("dynamic:channel:7", "dynamic:channel:8"),
        signed.replace(r#""storageBucketId":0"#, r#""storageBucketId":1"#),
        signed.replace(r#""bagId""#, r#""extra":true,"bagId""#),
    ];
    for data in &cases {
        assert_ne!(data, &signed);
        post_token(&node, body(data, &signature).as_bytes()).assert_error(401);
    }
    // One bit of the signature flipped; the signature of another message.
    let mut flipped = signature.clone().into_bytes();
    flipped[10] = if flipped[10] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    post_token(&node, body(&signed, &flipped).as_bytes()).assert_error(401);
    let other = text(&list(&vectors, "tokenRequests")[1], &["body", "signature"]);
    post_token(&node, body(&signed, &other).as_bytes()).assert_error(401);

    // Malformed: 400 with a JSON error, whatever the signature.
    let alice = text(&vectors, &["accounts", "memberSr25519", "address"]);
    let malformed: Vec<(String, &str)> = vec![
        ("not json at all".into(), "not JSON"),
        (String::new(), "empty body"),
        ("[1,2,3]".into(), "an array"),
        ("{}".into(), "no data, no signature"),
        (format!(r#"{{"data":{signed}}}"#), "no signature"),
        (format!(r#"{{"signature":"{signature}"}}"#), "no data"),
        (body("\"text\"", &signature), "data not an object"),
        (body(&signed, "0xzz"), "signature not hex"),
        (body(&signed, "0x1234"), "signature too short"),
        (
            format!(r#"{{"data":{signed},"signature":42}}"#),
            "signature not a string",
        ),
        (
            body(
                &signed.replace(r#""memberId":1"#, r#""memberId":"1""#),
                &signature,
            ),
            "memberId a string",
        ),
        (
            body(
                &signed.replace(r#""memberId":1"#, r#""memberId":-1"#),
                &signature,
            ),
            "memberId negative",
        ),
        (
            body(
                &signed.replace(r#""memberId":1"#, r#""memberId":1.5"#),
                &signature,
            ),
            "memberId not an integer",
        ),
        (
            body(
                &signed.replace(r#""dataObjectId":42"#, r#""dataObjectId":9007199254740992"#),
                &signature,
            ),
            "dataObjectId past 2^53 - 1",
        ),
        (
            body(&signed.replace(&alice, "not-an-address"), &signature),
            "accountId not an address",
        ),
        (
            body(
                &signed.replace(r#""bagId":"dynamic:channel:7""#, r#""bagId":7"#),
                &signature,
            ),
            "bagId not a string",
        ),
        (
            body(
                &signed.replace(
                    r#"{"memberId""#,
                    r#"{"validUntil":99999999999999,"memberId""#,
                ),
                &signature,
            ),
            "a reserved field (validUntil) in data",
        ),
        (
            body(
                &signed.replace(r#"{"memberId""#, r#"{"nonce":"1","memberId""#),
                &signature,
            ),
            "a reserved field (nonce) in data",
        ),
        (
            body(&signed, &format!("0x02{}", &signature[2..])),
            "an ecdsa type byte",
        ),
        (
            format!(r#"{{"data":{signed},"signature":"{signature}""#),
            "truncated JSON",
        ),
    ];
    for (body, why) in &malformed {
        let answer = post_token(&node, body.as_bytes());
        assert_eq!(
            answer.status,
            400,
            "{why}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.assert_error(400)["type"], "bad_request", "{why}");
    }
}

#[test]
fn members_must_be_controlled_by_the_signer_and_exist() {
    let vectors = vectors();
    let node = Node::start_dev(&[]);
    let bob = node_key(&vectors);
    // The ed25519 vector names member 0 (//Charlie). Before member 0 exists: 401.
    let charlie_vector = list(&vectors, "tokenRequests")
        .iter()
        .find(|v| text(v, &["crypto"]) == "ed25519")
        .expect("an ed25519 vector");
    assert_eq!(number(charlie_vector, &["body", "data", "memberId"]), 0);
    let body = js_json::to_string(charlie_vector.get("body").unwrap());
    let json = post_token(&node, body.as_bytes()).assert_error(401);
    assert_eq!(json["type"], "unauthorized");
    // Member 0 controlled by //Alice: the signature is good but the signer is not the
    // controller.
    let alice = text(&vectors, &["accounts", "memberSr25519", "address"]);
    add_member(&node, 0, &alice);
    post_token(&node, body.as_bytes()).assert_error(401);
    // Once //Charlie controls member 0: 201.
    let charlie = text(&vectors, &["accounts", "memberEd25519", "address"]);
    add_member(&node, 0, &charlie);
    let signed = text(charlie_vector, &["signedMessage"]);
    check_token(&post_token(&node, body.as_bytes()), &bob, &signed, 30_000);
    // And once member 0 is removed again: 401.
    admin_apply(&node, serde_json::json!({"op": "removeMember", "id": 0})).assert_status(200);
    post_token(&node, body.as_bytes()).assert_error(401);

    // //Charlie signing correctly for member 1, which //Alice controls: 401.
    let charlie_key = KeyPair::from_uri("//Charlie", CryptoScheme::Ed25519).unwrap();
    assert_eq!(charlie_key.public_key().to_joystream_address(), charlie);
    let data = request_data(1, &charlie, 5, 0, "dynamic:member:1");
    post_token(&node, signed_body(&charlie_key, &data).as_bytes()).assert_error(401);
    // A member that does not exist, signed by //Alice: 401.
    let alice_key = alice_key();
    let data = request_data(999_999, &alice, 5, 0, "dynamic:member:1");
    let json = post_token(&node, signed_body(&alice_key, &data).as_bytes()).assert_error(401);
    assert!(
        json["message"].as_str().unwrap().contains("999999"),
        "{json}"
    );
    // The same request for member 1 goes through.
    let data = request_data(1, &alice, 5, 0, "dynamic:member:1");
    check_token(
        &post_token(&node, signed_body(&alice_key, &data).as_bytes()),
        &bob,
        &data,
        30_000,
    );
}

#[test]
fn request_size_and_method_limits() {
    let node = Node::start_dev(&[]);
    // One byte over the 16 KiB limit: 413 before it is parsed, even when it is a well-formed,
    // well-signed request (the extra field is signed too).
    let body = signed_body_of_len(MAX_TOKEN_REQUEST_BYTES + 1);
    let reply = post_token_sized(&node, &body);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains(r#""type":"payload_too_large""#), "{reply}");
    // The same without Content-Length (chunked): 413 once 16 KiB have arrived.
    let in_one_chunk = chunked(body.as_bytes(), body.len());
    let reply = post_token_raw(&node, "Transfer-Encoding: chunked", &in_one_chunk);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains(r#""type":"payload_too_large""#), "{reply}");
    // Exactly at the limit is fine (the pad is signed like the rest).
    let body = signed_body_of_len(MAX_TOKEN_REQUEST_BYTES);
    assert_eq!(post_token(&node, body.as_bytes()).status, 201);

    // Only POST (and the CORS preflight).
    for method in ["GET", "PUT", "DELETE", "PATCH"] {
        let answer = request(method, &node.url("/authToken"), &[], None);
        let json = answer.assert_error(405);
        assert_eq!(json["type"], "method_not_allowed");
        assert_eq!(answer.header("allow"), Some("POST, OPTIONS"), "{method}");
    }
    let preflight = request(
        "OPTIONS",
        &node.url("/authToken"),
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        None,
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    assert!(preflight
        .header("access-control-allow-methods")
        .is_some_and(|m| m.contains("POST")));
}

/// Signs, asks for a token, uploads and reads back, as a member whose key was made at random
/// in this test and registered through the admin API.
fn full_flow(node: &Node, scheme: CryptoScheme, member_id: u64, object_id: u64, len: usize) {
    let bob = dev_node_key();
    let key = KeyPair::generate(scheme);
    let address = key.public_key().to_joystream_address();
    let bag = format!("dynamic:member:{member_id}");
    let bytes = content(object_id, len);
    create_object(node, object_id, &bag, &bytes);
    let data = request_data(member_id, &address, object_id, 0, &bag);

    // Not a member yet: 401.
    post_token(node, signed_body(&key, &data).as_bytes()).assert_error(401);
    add_member(node, member_id, &address);
    let answer = post_token(node, signed_body(&key, &data).as_bytes());
    check_token(&answer, &bob, &data, 30_000);
    let token = answer.json()["token"].as_str().unwrap().to_string();

    // The token is for this object only.
    let other = content(object_id + 1, 10);
    create_object(node, object_id + 1, &bag, &other);
    upload(node, object_id + 1, &bag, &other, Some(&token)).assert_error(401);

    let uploaded = upload(node, object_id, &bag, &bytes, Some(&token));
    assert_eq!(uploaded.assert_status(201).json()["id"], multihash(&bytes));
    let fetched = get(&node.url(&format!("/files/{object_id}")));
    assert_eq!(fetched.status, 200);
    assert!(fetched.body == bytes, "GET returned different bytes");
    let etag = format!("\"{}\"", multihash(&bytes));
    assert_eq!(fetched.header("etag"), Some(etag.as_str()));
}

#[test]
fn full_flow_with_a_random_sr25519_member_key() {
    let node = Node::start_dev(&[]);
    full_flow(&node, CryptoScheme::Sr25519, 7001, 100, 1_000_003);
}

#[test]
fn full_flow_with_a_random_ed25519_member_key() {
    let node = Node::start_dev(&[]);
    full_flow(&node, CryptoScheme::Ed25519, 7002, 200, 65_536);
}

#[test]
fn wallet_signatures_typed_and_bytes_wrapped_are_accepted() {
    // polkadot-js accepts a MultiSignature (a type byte before the 64 bytes) and a signature
    // over `<Bytes>message</Bytes>` (what wallet extensions' signRaw produce).
    let node = Node::start_dev(&[]);
    let bob = dev_node_key();
    let key = KeyPair::generate(CryptoScheme::Sr25519);
    let address = key.public_key().to_joystream_address();
    add_member(&node, 55, &address);
    let data = request_data(55, &address, 3, 0, "static:council");

    let typed = format!(
        "0x01{}",
        &colossus::auth::hex::encode(&key.sign(data.as_bytes()))[2..]
    );
    let body = format!(r#"{{"data":{data},"signature":"{typed}"}}"#);
    check_token(&post_token(&node, body.as_bytes()), &bob, &data, 30_000);
    // The wrong type byte (ed25519) for an sr25519 signature: 401.
    let mistyped = format!("0x00{}", &typed[4..]);
    let body = format!(r#"{{"data":{data},"signature":"{mistyped}"}}"#);
    post_token(&node, body.as_bytes()).assert_error(401);

    let wrapped = format!("<Bytes>{data}</Bytes>");
    let signature = colossus::auth::hex::encode(&key.sign(wrapped.as_bytes()));
    let body = format!(r#"{{"data":{data},"signature":"{signature}"}}"#);
    check_token(&post_token(&node, body.as_bytes()), &bob, &data, 30_000);

    // Extra fields in data are signed and carried into the token after the five required.
    let mut extra = JsObject::new();
    extra.insert(JsString::new("memberId"), JsValue::Number(55.0));
    extra.insert(JsString::new("accountId"), JsValue::string(&address));
    extra.insert(JsString::new("dataObjectId"), JsValue::Number(3.0));
    extra.insert(JsString::new("storageBucketId"), JsValue::Number(0.0));
    extra.insert(JsString::new("bagId"), JsValue::string("static:council"));
    extra.insert(JsString::new("client"), JsValue::string("colossus-tests"));
    let data = js_json::object_to_string(&extra);
    check_token(
        &post_token(&node, signed_body(&key, &data).as_bytes()),
        &bob,
        &data,
        30_000,
    );
}

#[test]
fn token_lifetime_follows_the_flag() {
    let node = Node::start_dev(&["--upload-token-ttl-ms", "5000"]);
    let bob = dev_node_key();
    let alice_key = alice_key();
    let data = request_data(
        1,
        &alice_key.public_key().to_joystream_address(),
        9,
        0,
        "dynamic:member:1",
    );
    let before = now_ms();
    let answer = post_token(&node, signed_body(&alice_key, &data).as_bytes());
    check_token(&answer, &bob, &data, 5000);
    let token = answer.json()["token"].as_str().unwrap().to_string();
    let claims = verify_upload_token(&token, &bob, now_ms()).unwrap();
    assert!(
        claims.valid_until_ms >= before + 5000 && claims.valid_until_ms <= now_ms() + 5000,
        "validUntil {} for a 5 s lifetime starting at {before}",
        claims.valid_until_ms
    );
}

#[test]
fn a_token_refused_for_a_full_node_is_not_used_up() {
    // The token is checked last so that a request refused for another reason keeps it; the
    // node at its limit of uploads in flight (503, "retry later") is such a reason.
    let node = Node::start_dev(&["--max-uploads-in-flight", "1"]);
    let bag = "dynamic:member:1";
    // Upload A holds the only slot: its head and part of its file part, then nothing.
    let a = content(1, 100_000);
    create_object(&node, 1, bag, &a);
    let token_a = alice_token(&node, 1, bag);
    let mut holder = RawUpload::begin(&node, 1, bag, &a, Some(&token_a));
    holder
        .send(holder.remaining() / 2)
        .expect("send half of upload A");
    wait_for_uploads_in_flight(&node, 1);
    // Upload B is refused for the limit...
    let b = content(2, 1000);
    create_object(&node, 2, bag, &b);
    let token_b = alice_token(&node, 2, bag);
    upload(&node, 2, bag, &b, Some(&token_b)).assert_error(503);
    // ...and once A is gone, B goes through with the same token.
    drop(holder);
    wait_for_uploads_in_flight(&node, 0);
    upload(&node, 2, bag, &b, Some(&token_b)).assert_status(201);
    assert!(get(&node.url("/files/2")).body == b);
}

#[test]
fn a_refused_token_request_is_answered_even_to_clients_that_send_the_whole_body_first() {
    // The node refuses a body over 16 KiB as soon as it reads Content-Length. A client that
    // writes the whole body before reading must still get the 413 JSON answer, not a reset
    // connection (as POST /files does for refused uploads: it drains refused bodies up to
    // 1 MiB before closing).
    let node = Node::start_dev(&[]);
    assert_refusal_reaches_whole_body_clients(
        &node.url("/authToken"),
        &[("Content-Type", "application/json")],
        &[b'x'; 100 * 1024],
        413,
        "payload_too_large",
    );
}

#[test]
fn the_json_body_limit_flag_applies_to_token_requests() {
    // `colossus server --help`: "--max-json-body: Largest JSON request body (authToken, admin
    // API), bytes". A node run with 4096 refuses a well-signed 8 KiB token request (which the
    // fixed 16 KiB cap alone would let through).
    let node = Node::start_dev(&["--max-json-body", "4096"]);
    let reply = post_token_sized(&node, &signed_body_of_len(8 * 1024));
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    let alice_key = alice_key();
    let alice = alice_key.public_key().to_joystream_address();
    // A small request is still fine.
    let data = request_data(1, &alice, 1, 0, "static:council");
    assert_eq!(
        post_token(&node, signed_body(&alice_key, &data).as_bytes()).status,
        201
    );
}
