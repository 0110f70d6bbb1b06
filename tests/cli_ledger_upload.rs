//! The `colossus ledger` and `colossus upload` commands against a live node, exactly as the
//! CLI contract spells them: what they print, what they change, and their errors.

mod common;

use common::*;

#[test]
fn ledger_commands_change_what_the_node_enforces() {
    let node = Node::start_dev(&[]);
    let url = format!("http://{}", node.addr);
    let token_file = node.data.join("admin.token");
    let token_file = token_file.to_str().unwrap();
    let ledger = |args: &[&str]| {
        let mut all = vec!["ledger", "--node", &url, "--admin-token-file", token_file];
        all.extend_from_slice(args);
        colossus(&all)
    };

    // add-member: a member controlled by a fresh key can then get upload tokens.
    let key = colossus::auth::keys::KeyPair::generate(colossus::auth::keys::CryptoScheme::Sr25519);
    let address = key.public_key().to_joystream_address();
    let out = ledger(&["add-member", "--member-id", "7", "--controller", &address]);
    assert!(out.status.success(), "{}", stderr(&out));

    // create-object with --file: size and hash from the file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("object.bin");
    let bytes = content(11, 123_456);
    std::fs::write(&file, &bytes).unwrap();
    let out = ledger(&[
        "create-object",
        "--bag",
        "dynamic:channel:4",
        "--object-id",
        "70",
        "--file",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // create-object with --size and --hash.
    let other = content(12, 99);
    let hash = multihash(&other);
    let out = ledger(&[
        "create-object",
        "--bag",
        "static:council",
        "--object-id",
        "71",
        "--size",
        "99",
        "--hash",
        &hash,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    // list shows both; --json parses and carries the member.
    let out = ledger(&["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("70") && text.contains("71") && text.contains(&hash),
        "{text}"
    );
    let out = ledger(&["list", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("list --json");
    let objects = json["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 2);
    assert_eq!(objects[0]["id"], 70);
    assert_eq!(objects[0]["sizeBytes"], 123_456);
    assert_eq!(objects[0]["multihash"], multihash(&bytes));
    assert!(json["members"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == 7 && m["controller"] == address.as_str()));

    // The new member can upload object 70 with a token signed by its own key.
    let token = member_token(node.addr, &key, 7, 70, "dynamic:channel:4");
    upload(&node, 70, "dynamic:channel:4", &bytes, Some(&token)).assert_status(201);

    // delete-object drops the ledger entry and the stored copy.
    let out = ledger(&["delete-object", "--object-id", "70"]);
    assert!(out.status.success(), "{}", stderr(&out));
    get(&node.url("/files/70")).assert_error(404);
    let out = ledger(&["list", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["objects"].as_array().unwrap().len(), 1);

    // Errors: one line, non-zero exit, nothing changed.
    let out = ledger(&["delete-object", "--object-id", "70"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));
    let out = ledger(&[
        "add-member",
        "--member-id",
        "8",
        "--controller",
        "not-an-address",
    ]);
    assert!(!out.status.success());
    let wrong = dir.path().join("wrong.token");
    std::fs::write(&wrong, "0".repeat(64)).unwrap();
    let out = colossus(&[
        "ledger",
        "--node",
        &url,
        "--admin-token-file",
        wrong.to_str().unwrap(),
        "list",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("401"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn upload_command_creates_signs_uploads_and_prints_the_hash() {
    let node = Node::start_dev(&[]);
    let url = format!("http://{}", node.addr);
    let token_file = node.data.join("admin.token");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.bin");
    let bytes = content(13, 3 * 1024 * 1024 + 17);
    std::fs::write(&file, &bytes).unwrap();
    // `colossus upload` of the file into dynamic:member:1, with `extra` flags.
    let colossus_upload = |extra: &[&str]| {
        let mut all = vec![
            "upload",
            "--node",
            &url,
            "--admin-token-file",
            token_file.to_str().unwrap(),
            "--bag",
            "dynamic:member:1",
            "--file",
            file.to_str().unwrap(),
        ];
        all.extend_from_slice(extra);
        colossus(&all)
    };
    let out = colossus_upload(&[
        "--object-id",
        "5",
        "--member-id",
        "1",
        "--member-uri",
        "//Alice",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let hash = multihash(&bytes);
    assert_eq!(stdout(&out), format!("object 5 {hash}\n"));
    let got = get(&node.url("/files/5"));
    assert_eq!(got.status, 200);
    assert!(got.body == bytes);

    // Without --object-id the next free id is used.
    let out = colossus_upload(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("object 6 {hash}\n"));
    assert!(get(&node.url("/files/6")).body == bytes);

    // A member the key does not control: refused with the node's 401, exit 1, and the
    // object it created is removed again.
    let out = colossus_upload(&["--object-id", "9", "--member-uri", "//Eve"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    get(&node.url("/files/9")).assert_error(404);
    let ledger = admin_get(&node, "/admin/ledger");
    let objects = ledger["objects"].as_array().expect("objects in the ledger");
    assert!(objects.iter().any(|o| o["id"] == 6), "{ledger}");
    assert!(
        !objects.iter().any(|o| o["id"] == 9),
        "the refused upload's object was not removed from the ledger: {ledger}"
    );
}
