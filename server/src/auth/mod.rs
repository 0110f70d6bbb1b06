//! Authentication in the reference node's conventions: SS58 accounts, substrate dev keys,
//! polkadot-js signatures over JS-serialised JSON, `/authToken` requests and upload tokens.

pub mod hex;
pub mod js_json;
pub mod keys;
pub mod signature;
pub mod ss58;
pub mod token_request;
pub mod upload_token;
