//! No secret in state, plan output, plan files, drift reports or logs (issue 7).
//!
//! One `acm_imported_certificate` whose private key is the secret. The whole life cycle runs
//! against moto with `KPROV_LOG=trace` (kprov's own modules at trace, the SDK capped by
//! default): plan (text, JSON, `--out` file), apply of the saved plan, drift (JSON and
//! markdown), a key rotation (update in place, shown as "(sensitive value changed)"), a state
//! rewritten from an older kprov's plaintext form, and destroy. Everything written — stdout,
//! stderr, every state file and backup, the plan file, the drift reports — is then searched
//! for the key in PEM, base64 (what goes on the wire) and hex form: zero hits. The SDK checks
//! independently that the certificate reached ACM, and moto's own model that the key did.

mod support;

use std::path::Path;
use std::process::Command;

const REGION: &str = "ap-southeast-4";

/// A fresh self-signed certificate and its key (PEM), via the openssl CLI. `newkey`:
/// `rsa:2048`, or `ec` for a P-256 key.
fn keypair(dir: &Path, name: &str, newkey: &str) -> (String, String) {
    let (key, cert) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.crt")));
    let ec: &[&str] = if newkey == "ec" { &["-pkeyopt", "ec_paramgen_curve:prime256v1"] } else { &[] };
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", newkey])
        .args(ec)
        .args(["-nodes", "-days", "3", "-subj", "/CN=secrets.example.com"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    let read = |p: &Path| {
        let text = std::fs::read_to_string(p).unwrap();
        std::fs::remove_file(p).unwrap();
        text
    };
    (read(&cert), read(&key))
}

/// Forms the key could leak in. Only the *secret* part of the key counts: a private key also
/// holds the public key, which the certificate (public, kept in clear) carries as well. So the
/// needles come from DER bytes `secret` (RSA: the private exponent and primes; EC: the 32-byte
/// scalar) in three forms: PEM body text (state, plan files, logs of the value), the base64 of
/// the PEM text as the ImportCertificate request body carries it (wire logs), and hex.
fn needles(key: &str, secret: std::ops::Range<usize>) -> Vec<String> {
    use base64_like::encode;
    let body: Vec<&str> = key.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = decode_b64(&body.concat());
    assert!(secret.end <= der.len());
    // Body characters that encode secret bytes only.
    let (cs, ce) = (secret.start.div_ceil(3) * 4, secret.end / 3 * 4);
    let mut out = Vec::new();
    let mut at = 0;
    for line in &body {
        let (ls, le) = (cs.max(at), ce.min(at + line.len()));
        if le >= ls + 16 {
            out.push(line[ls - at..le - at].to_string());
        }
        at += line.len();
    }
    out.push(hex(&der[secret.start..secret.start + 24]));
    out.push(hex(&der[secret.start..secret.start + 24]).to_uppercase());
    // The PEM text span holding those characters, 3-byte aligned as in base64 of the whole text.
    let header = key.find('\n').unwrap() + 1;
    let pos = |i: usize| header + i + i / 64;
    let (o, e) = (pos(cs).div_ceil(3) * 3, pos(ce) / 3 * 3);
    let wire = encode(&key.as_bytes()[o..e]);
    out.push(wire[4..wire.len() - 4].to_string());
    assert!(out.len() >= 4 && out.iter().all(|n| n.len() >= 16));
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn decode_b64(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        bits = (bits << 6) | A.iter().position(|x| *x == c).unwrap() as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

mod base64_like {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    pub fn encode(b: &[u8]) -> String {
        let mut out = String::new();
        for c in b.chunks(3) {
            let v = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..=c.len() {
                out.push(A[(v >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }
}

fn write_plans(dir: &Path, cert: &str, key: &str) {
    let plans = dir.join("plans");
    std::fs::create_dir_all(plans.join("env")).unwrap();
    std::fs::create_dir_all(dir.join("state")).unwrap();
    std::fs::write(
        plans.join("stack.toml"),
        format!(
            "[stack]\nname = \"secrets\"\n\n[variables]\nregion = \"{REGION}\"\n\n\
             [resource.acm_imported_certificate.tls]\ncertificate_body = '''\n{cert}'''\nprivate_key = '''\n{key}'''\n\
             tags = {{ Purpose = \"secrets-test\" }}\n"
        ),
    )
    .unwrap();
    std::fs::write(plans.join("env/dev.toml"), "[variables]\n").unwrap();
}

/// Everything a run printed, collected for the final search.
#[derive(Default)]
struct Transcript(Vec<(String, String)>);

impl Transcript {
    /// Run kprov with trace logging; returns (exit code, stdout).
    fn run(&mut self, dir: &Path, args: &[&str]) -> (i32, String) {
        let out = support::kprov(dir).env("KPROV_LOG", "trace").args(args).output().unwrap();
        let (stdout, stderr) =
            (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string());
        self.0.push((format!("{args:?} stdout"), stdout.clone()));
        self.0.push((format!("{args:?} stderr"), stderr.clone()));
        (out.status.code().unwrap_or(-1), stdout)
    }
    fn ok(&mut self, dir: &Path, args: &[&str]) -> String {
        let (code, stdout) = self.run(dir, args);
        assert!(code == 0 || code == 2, "kprov {args:?} exited {code}: {}", self.0.last().unwrap().1);
        stdout
    }
    /// Add every file under `dir` (state, backups, plan files, reports).
    fn files(&mut self, dir: &Path) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                if e.file_name() != "plans" {
                    self.files(&e.path());
                }
            } else {
                let text = String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).to_string();
                self.0.push((e.path().display().to_string(), text));
            }
        }
    }
    fn assert_clean(&self, key: &str, secret: std::ops::Range<usize>) {
        let needles = needles(key, secret);
        let mut searched = 0;
        for (what, text) in &self.0 {
            searched += text.len();
            for n in &needles {
                assert!(!text.contains(n.as_str()), "the private key leaked into {what} (as {n})");
            }
        }
        assert!(searched > 10_000, "the transcript is suspiciously small ({searched} bytes)");
    }
}

fn state_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("state/secrets/dev.json")).unwrap()
}

/// The key algorithm ACM reports. ACM never returns an imported key, but moto derives this
/// from the private key it parsed: a rotation from an RSA to an EC key shows that the new key
/// (not just the certificate) reached ACM.
async fn key_algorithm(acm: &aws_sdk_acm::Client, arn: &str) -> String {
    let d = acm.describe_certificate().certificate_arn(arn).send().await.unwrap();
    d.certificate().unwrap().key_algorithm().unwrap().as_str().to_string()
}

#[tokio::test]
async fn no_secret_in_state_plan_output_drift_or_logs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (cert, key) = keypair(d, "first", "rsa:2048");
    write_plans(d, &cert, &key);
    let acm = aws_sdk_acm::Client::new(&support::sdk_config(REGION).await);
    let mut t = Transcript::default();

    // Plan: text, JSON and a plan file; apply the file.
    let text = t.ok(d, &["plan", "--env", "dev", "--out", "tls.plan"]);
    assert!(text.contains("private_key") && text.contains("(sensitive)"), "{text}");
    let json = t.ok(d, &["plan", "--env", "dev", "--json"]);
    assert!(json.contains("(sensitive)"));
    let plan_file = std::fs::read_to_string(d.join("tls.plan")).unwrap();
    assert!(plan_file.contains("pbkdf2-sha256:"), "the plan file seals the key: {plan_file}");
    t.ok(d, &["apply", "--env", "dev", "--auto-approve", "--progress", "plain", "tls.plan"]);

    // It reached AWS: the certificate through the SDK, the key in moto's model.
    let state: serde_json::Value = serde_json::from_str(&state_text(d)).unwrap();
    let r = &state["resources"]["acm_imported_certificate.tls"];
    let arn = r["id"].as_str().unwrap().to_string();
    assert!(r["attributes"]["private_key"]["sensitive"].as_str().unwrap().starts_with("pbkdf2-sha256:600000:"));
    let got = acm.get_certificate().certificate_arn(&arn).send().await.unwrap();
    assert_eq!(got.certificate().unwrap().trim(), cert.trim());
    assert_eq!(key_algorithm(&acm, &arn).await, "RSA_2048");

    // No spurious diff against the sealed state; drift finds nothing.
    let text = t.ok(d, &["plan", "--env", "dev"]);
    assert!(text.contains("No changes"), "{text}");
    let (code, _) = t.run(d, &["drift", "--env", "dev", "--format", "json"]);
    assert_eq!(code, 0, "no drift after apply");

    // An older kprov's state with the key in clear: no diff, and rewritten sealed on the next
    // write. (The leak check below covers this file only after that rewrite.)
    let legacy = state_text(d).replace(
        &format!("{{\n          \"sensitive\": {}\n        }}", r["attributes"]["private_key"]["sensitive"]),
        &serde_json::to_string(&key).unwrap(),
    );
    assert!(legacy.contains("BEGIN PRIVATE KEY"), "the legacy state holds the key in clear");
    std::fs::write(d.join("state/secrets/dev.json"), legacy).unwrap();
    let text = t.ok(d, &["plan", "--env", "dev"]);
    assert!(text.contains("No changes"), "{text}");

    // Rotate the key and certificate: an in-place update, the key shown only as changed.
    let (cert2, key2) = keypair(d, "second", "ec");
    write_plans(d, &cert2, &key2);
    let text = t.ok(d, &["plan", "--env", "dev"]);
    assert!(text.contains("will be updated in place") && text.contains("(sensitive value changed)"), "{text}");
    t.ok(d, &["apply", "--env", "dev", "--auto-approve", "--progress", "plain"]);
    let got = acm.get_certificate().certificate_arn(&arn).send().await.unwrap();
    assert_eq!(got.certificate().unwrap().trim(), cert2.trim(), "re-imported under the same ARN");
    assert_eq!(key_algorithm(&acm, &arn).await, "EC_prime256v1", "the new private key reached ACM");
    assert!(!state_text(d).contains("PRIVATE KEY"), "the legacy plaintext was rewritten sealed");

    // Drift: no finding; then every report format.
    let (code, _) = t.run(d, &["drift", "--env", "dev", "--format", "json"]);
    assert_eq!(code, 0);
    t.run(d, &["drift", "--env", "dev", "--format", "markdown"]);
    t.run(d, &["state", "show", "--env", "dev", "acm_imported_certificate.tls"]);
    t.run(d, &["state", "pull", "--env", "dev"]);

    // Failure path: a key ACM refuses (valid PEM framing, garbage inside); the error must not
    // echo it.
    let bad = key.replace(key.lines().nth(5).unwrap(), &"A".repeat(64));
    write_plans(d, &cert, &bad);
    let (code, _) = t.run(d, &["apply", "--env", "dev", "--auto-approve", "--progress", "plain"]);
    assert_ne!(code, 0, "moto refuses a damaged key");
    write_plans(d, &cert2, &key2);

    t.ok(d, &["destroy", "--env", "dev", "--auto-approve", "--progress", "plain"]);
    assert!(acm.describe_certificate().certificate_arn(&arn).send().await.is_err(), "deleted");

    t.files(d);
    // RSA-2048 PKCS#8: the modulus ends near byte 300; EC P-256 PKCS#8: the scalar is 36..68.
    t.assert_clean(&key, 400..1100);
    t.assert_clean(&key2, 36..68);
    t.assert_clean(&bad, 400..1100);
}
