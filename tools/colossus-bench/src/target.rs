//! What a run talks to and what it expects back: the server address, the objects (path,
//! size, multihash, and the generating content for objects this tool uploaded), and the setup
//! done before the clock starts (objects created through the admin API, upload tokens,
//! expected sizes and hashes read from the ledger). All of it blocking and untimed.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use colossus::auth::keys::{CryptoScheme, KeyPair};
use colossus::client::{encode_query_value, token_request_body, ClientError, NodeClient};
use colossus::ledger::{DataObject, Mutation};
use serde::{Deserialize, Serialize};

use crate::content::Content;

/// Attempts to create an object when another client takes the id first.
const CREATE_ATTEMPTS_MAX: usize = 16;

/// A server base URL resolved for the load engine.
#[derive(Clone, Debug)]
pub struct Server {
    /// Socket address.
    pub addr: SocketAddr,
    /// Host header.
    pub host: String,
    /// Path prefix, no trailing '/' (empty for the root).
    pub prefix: String,
    /// The normalised `http://host:port` (without the prefix).
    pub origin: String,
}

/// Splits `http://host[:port][/path]` into a resolved server and the path (starting with '/').
pub fn parse_url(url: &str) -> Result<(Server, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("{url:?}: no host"));
    }
    let with_port = if authority.ends_with(']') || !authority.contains(':') {
        format!("{authority}:80")
    } else {
        authority.to_owned()
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("{url:?}: cannot resolve {with_port}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url:?}: {with_port} resolves to nothing"))?;
    Ok((
        Server {
            addr,
            host: with_port.clone(),
            prefix: path.trim_end_matches('/').to_owned(),
            origin: format!("http://{with_port}"),
        },
        path.to_owned(),
    ))
}

/// One object a read workload fetches.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Object {
    /// Data object id (colossus objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// Request target.
    pub path: String,
    /// Expected size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// Expected multihash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multihash: Option<String>,
    /// Seed of the generated content (objects this tool uploaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Decoded multihash.
    #[serde(skip)]
    pub digest: Option<[u8; 32]>,
}

impl Object {
    /// The generated content, when known.
    pub fn content(&self) -> Option<Content> {
        Some(Content::new(self.seed?, self.size_bytes?))
    }

    /// Decodes the multihash into `digest`.
    pub fn decode(&mut self) -> Result<(), String> {
        if let Some(m) = &self.multihash {
            self.digest = Some(
                colossus_engine::multihash::decode(m)
                    .map_err(|e| format!("object {}: multihash {m:?}: {e}", self.path))?,
            );
        }
        Ok(())
    }
}

/// Objects written by `--save-manifest`, read by `--manifest`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// Base URL of the node they are on.
    pub node: String,
    /// The objects.
    pub objects: Vec<Object>,
}

/// Reads a manifest file.
pub fn read_manifest(path: &Path) -> Result<Manifest, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    for o in &mut manifest.objects {
        o.decode()?;
    }
    Ok(manifest)
}

/// Writes a manifest file.
pub fn write_manifest(path: &Path, manifest: &Manifest) -> Result<(), String> {
    let text = serde_json::to_string_pretty(manifest).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))
}

/// One line of a URLs file: URL, expected size, expected multihash.
pub type UrlLine = (String, Option<u64>, Option<String>);

/// Reads `URL [SIZE [MULTIHASH]]` lines ('#' comments).
pub fn read_urls_file(path: &Path) -> Result<Vec<UrlLine>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let url = parts.next().unwrap_or_default().to_owned();
        let size = match parts.next() {
            Some(s) => Some(
                s.parse()
                    .map_err(|_| format!("{}:{}: bad size {s:?}", path.display(), n + 1))?,
            ),
            None => None,
        };
        out.push((url, size, parts.next().map(str::to_owned)));
    }
    Ok(out)
}

/// Parses `1,2,5-9`.
pub fn parse_ids(text: &str) -> Result<Vec<u64>, String> {
    let mut ids = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("bad id list element {part:?}");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u64, u64) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if b < a || b - a > 10_000_000 {
                    return Err(bad());
                }
                ids.extend(a..=b);
            }
            None => ids.push(part.parse().map_err(|_| bad())?),
        }
    }
    if ids.is_empty() {
        return Err("empty id list".to_owned());
    }
    Ok(ids)
}

/// Reads an admin token from a flag or a file.
pub fn admin_token(token: Option<&str>, file: Option<&Path>) -> Result<Option<String>, String> {
    if let Some(t) = token {
        return Ok(Some(t.trim().to_owned()));
    }
    match file {
        Some(f) => std::fs::read_to_string(f)
            .map(|t| Some(t.trim().to_owned()))
            .map_err(|e| format!("admin token file {}: {e}", f.display())),
        None => Ok(None),
    }
}

fn client_error(e: ClientError) -> String {
    e.to_string()
}

/// Objects on a colossus node by id, with size and multihash from the ledger (admin token)
/// or, without one, from a HEAD of each (the node's own Content-Length and ETag).
pub fn node_objects(
    node: &Server,
    ids: &[u64],
    admin: Option<&NodeClient>,
) -> Result<Vec<Object>, String> {
    let path = |id: u64| format!("{}/api/v1/files/{id}", node.prefix);
    if let Some(client) = admin {
        let snapshot = client.ledger_snapshot(None).map_err(client_error)?;
        let by_id: HashMap<u64, &DataObject> = snapshot.objects.iter().map(|o| (o.id, o)).collect();
        return ids
            .iter()
            .map(|&id| {
                let o = by_id
                    .get(&id)
                    .ok_or_else(|| format!("object {id} is not in the node's ledger"))?;
                let mut object = Object {
                    id: Some(id),
                    path: path(id),
                    size_bytes: Some(o.size_bytes),
                    multihash: Some(o.multihash.clone()),
                    seed: None,
                    digest: None,
                };
                object.decode()?;
                Ok(object)
            })
            .collect();
    }
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    ids.iter()
        .map(|&id| {
            let url = format!("{}{}", node.origin, path(id));
            let (size, etag) = head(&agent, &url)?;
            let mut object = Object {
                id: Some(id),
                path: path(id),
                size_bytes: Some(size),
                multihash: etag.filter(|e| e.len() == 46 && e.starts_with("gW")),
                seed: None,
                digest: None,
            };
            object.decode()?;
            Ok(object)
        })
        .collect()
}

/// HEAD of `url`: its Content-Length and unquoted ETag.
pub fn head(agent: &ureq::Agent, url: &str) -> Result<(u64, Option<String>), String> {
    let response = agent
        .head(url)
        .call()
        .map_err(|e| format!("HEAD {url}: {e}"))?;
    let size = response
        .header("content-length")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("HEAD {url}: no Content-Length"))?;
    let etag = response.header("etag").map(|e| {
        e.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_owned()
    });
    Ok((size, etag))
}

/// How uploads are authorised and where they go.
pub struct UploadAuth {
    /// Bag of the created objects.
    pub bag: String,
    /// Bucket to upload to (None: the first the node says accepts uploads).
    pub bucket_id: Option<u64>,
    /// Member key and id for upload tokens (None: no token).
    pub member: Option<(KeyPair, u64)>,
}

impl UploadAuth {
    /// From CLI values.
    pub fn new(
        bag: &str,
        bucket_id: Option<u64>,
        no_token: bool,
        member_uri: &str,
        member_id: u64,
    ) -> Result<Self, String> {
        let bag = colossus::cli::tools::canonical_bag_id(bag).map_err(|e| e.to_string())?;
        let member = if no_token {
            None
        } else {
            Some((
                KeyPair::from_uri(member_uri, CryptoScheme::Sr25519)
                    .map_err(|e| format!("member key {member_uri:?}: {e}"))?,
                member_id,
            ))
        };
        Ok(Self {
            bag,
            bucket_id,
            member,
        })
    }
}

/// An upload ready to send: the object exists in the ledger, the token (if any) is fetched.
#[derive(Clone, Debug)]
pub struct PlannedUpload {
    /// Data object id.
    pub id: u64,
    /// The content.
    pub content: Content,
    /// Its multihash.
    pub multihash: String,
    /// Request target with the query.
    pub path: String,
    /// Upload token.
    pub token: Option<String>,
}

/// Hashes `contents` on every core.
pub fn digests(contents: &[Content]) -> Vec<[u8; 32]> {
    let threads = crate::cores().min(contents.len().max(1));
    let mut out = vec![[0u8; 32]; contents.len()];
    let per = contents.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for (chunk_out, chunk_in) in out.chunks_mut(per).zip(contents.chunks(per)) {
            scope.spawn(move || {
                for (o, c) in chunk_out.iter_mut().zip(chunk_in) {
                    *o = c.digest();
                }
            });
        }
    });
    out
}

/// Seed of the content of object `id` in a run seeded `seed`.
pub fn content_seed(seed: u64, id: u64) -> u64 {
    (seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15)).rotate_left(17) ^ id
}

/// Creates `count` objects of `size_bytes` with generated content in the node's ledger and
/// fetches a token for each.
pub fn plan_uploads(
    node: &Server,
    client: &NodeClient,
    auth: &UploadAuth,
    count: u64,
    size_bytes: u64,
    seed: u64,
) -> Result<Vec<PlannedUpload>, String> {
    let bucket_id = match auth.bucket_id {
        Some(b) => b,
        None => {
            let status = client.status().map_err(client_error)?;
            let first = status
                .upload_buckets
                .first()
                .ok_or("the node has no bucket accepting uploads (give --bucket-id)")?;
            first
                .parse()
                .map_err(|_| format!("the node reports bucket id {first:?}"))?
        }
    };
    let mut next_id = client.next_object_id().map_err(client_error)?;
    let first_seed_id = next_id;
    // Content seeds follow the planned order; ids may skip if someone else creates objects.
    let contents: Vec<Content> = (0..count)
        .map(|i| Content::new(content_seed(seed, first_seed_id + i), size_bytes))
        .collect();
    let hashes = digests(&contents);
    let mut planned = Vec::with_capacity(contents.len());
    for (content, digest) in contents.into_iter().zip(hashes) {
        let multihash = colossus_engine::multihash::encode(&digest);
        let mut attempt = 0;
        let id = loop {
            let mutation = Mutation::CreateObject {
                object: DataObject {
                    id: next_id,
                    bag: auth.bag.clone(),
                    size_bytes,
                    multihash: multihash.clone(),
                    accepted: false,
                },
            };
            match client.apply_mutation(&mutation) {
                Ok(()) => break next_id,
                Err(ClientError::Http { status: 409, .. }) if attempt < CREATE_ATTEMPTS_MAX => {
                    attempt += 1;
                    next_id = client.next_object_id().map_err(client_error)?;
                }
                Err(e) => return Err(format!("creating object {next_id}: {e}")),
            }
        };
        next_id = id + 1;
        let token = match &auth.member {
            Some((key, member_id)) => {
                let body = token_request_body(key, *member_id, id, bucket_id, &auth.bag)
                    .map_err(client_error)?;
                Some(
                    client
                        .auth_token(&body)
                        .map_err(|e| format!("upload token for object {id}: {e}"))?,
                )
            }
            None => None,
        };
        let path = format!(
            "{}/api/v1/files?dataObjectId={id}&storageBucketId={bucket_id}&bagId={}",
            node.prefix,
            encode_query_value(&auth.bag)
        );
        planned.push(PlannedUpload {
            id,
            content,
            multihash,
            path,
            token,
        });
    }
    Ok(planned)
}

/// Uploads to a sink: no ledger, no tokens, ids are just 0..count.
pub fn plan_sink_uploads(path: &str, count: u64, size_bytes: u64, seed: u64) -> Vec<PlannedUpload> {
    (0..count)
        .map(|id| PlannedUpload {
            id,
            content: Content::new(content_seed(seed, id), size_bytes),
            multihash: String::new(),
            path: path.to_owned(),
            token: None,
        })
        .collect()
}

/// The uploaded objects as read targets.
pub fn uploaded_objects(node: &Server, uploads: &[PlannedUpload]) -> Vec<Object> {
    uploads
        .iter()
        .map(|u| Object {
            id: Some(u.id),
            path: format!("{}/api/v1/files/{}", node.prefix, u.id),
            size_bytes: Some(u.content.size_bytes),
            multihash: Some(u.multihash.clone()),
            seed: Some(u.content.seed),
            digest: colossus_engine::multihash::decode(&u.multihash).ok(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_ids_parse() {
        let (s, path) = parse_url("http://127.0.0.1:8080/a/b").unwrap();
        assert_eq!(
            (s.addr.port(), s.host.as_str(), path.as_str()),
            (8080, "127.0.0.1:8080", "/a/b")
        );
        assert_eq!(s.prefix, "/a/b");
        let (s, path) = parse_url("http://127.0.0.1").unwrap();
        assert_eq!(
            (s.addr.port(), path.as_str(), s.prefix.as_str()),
            (80, "/", "")
        );
        assert!(parse_url("https://x").is_err());
        assert_eq!(parse_ids("1, 3-5,9").unwrap(), vec![1, 3, 4, 5, 9]);
        assert!(parse_ids("5-3").is_err());
        assert!(parse_ids("").is_err());
    }
}
