//! End-to-end tests of `download` against the fake hub of `testserver` on 127.0.0.1.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use super::catalog::{Entry, HubRepo, Output, RepoKind};
use super::hub::{fetch, HubConfig};
use super::testserver::{FileSpec, HubServer, Serve};
use super::verify::{hex, sha256_file};
use super::{download, STAMP};

const REPO: HubRepo = HubRepo { id: "test/tiny", kind: RepoKind::Dataset, revision: "main" };

fn config(server: &HubServer, dir: &Path) -> HubConfig {
    HubConfig {
        endpoint: server.endpoint().to_string(),
        cache_dir: dir.join("hub"),
        offline: false,
        progress: false,
    }
}

fn route(repo: HubRepo, file: &str) -> String {
    format!("/{repo}/resolve/main/{file}")
}

/// An "LFS" file: its etag is its sha256.
fn lfs(body: Vec<u8>, serve: Serve) -> FileSpec {
    use sha2::Digest;
    let etag = hex(&sha2::Sha256::digest(&body));
    FileSpec { body, etag, serve }
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

/// The snapshot path hf-hub would link the file from.
fn snapshot(cfg: &HubConfig, file: &str) -> std::path::PathBuf {
    cfg.cache_dir.join("datasets--test--tiny/snapshots").join(super::testserver::COMMIT).join(file)
}

fn err_text<T>(r: Result<T>) -> String {
    match r {
        Ok(_) => "unexpectedly succeeded".to_string(),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn fetches_verifies_reuses_and_resolves_offline() -> Result<()> {
    let server = HubServer::start()?;
    let tmp = tempfile::tempdir()?;
    let mut cfg = config(&server, tmp.path());
    let body = payload(5000);
    server.put(&route(REPO, "data/a.bin"), lfs(body.clone(), Serve::Honest));
    let got = fetch(&cfg, REPO, "data/a.bin")?;
    assert_eq!(got.path, snapshot(&cfg, "data/a.bin"));
    assert_eq!(std::fs::read(&got.path)?, body);
    assert!(got.sha256_checked && got.size == 5000);
    let after_first = server.requests();
    // Cached and current: one metadata probe, no download.
    assert_eq!(fetch(&cfg, REPO, "data/a.bin")?, got);
    assert_eq!(server.requests(), after_first + 1);
    // Offline: the same file, no connection.
    cfg.offline = true;
    assert_eq!(fetch(&cfg, REPO, "data/a.bin")?, got);
    assert_eq!(server.requests(), after_first + 1);
    // A cached copy damaged on disk is caught (sha256 from the blob name) and removed.
    let blob = std::fs::canonicalize(&got.path)?;
    std::fs::write(&blob, payload(4999).iter().chain([0u8].iter()).copied().collect::<Vec<u8>>())?;
    let err = err_text(fetch(&cfg, REPO, "data/a.bin"));
    assert!(err.contains("sha256 mismatch") && err.contains("damaged and was removed"), "{err}");
    assert!(!got.path.exists() && !blob.exists());
    Ok(())
}

#[test]
fn offline_without_cache_fails_without_connecting() -> Result<()> {
    let server = HubServer::start()?;
    let tmp = tempfile::tempdir()?;
    let cfg = HubConfig { offline: true, ..config(&server, tmp.path()) };
    server.put(&route(REPO, "a.bin"), lfs(payload(10), Serve::Honest));
    let err = err_text(fetch(&cfg, REPO, "a.bin"));
    assert!(err.contains("offline: a.bin of datasets/test/tiny is not in the cache"), "{err}");
    assert_eq!(server.requests(), 0);
    Ok(())
}

#[test]
fn missing_file_is_a_404_naming_the_url() -> Result<()> {
    let server = HubServer::start()?;
    let tmp = tempfile::tempdir()?;
    let cfg = config(&server, tmp.path());
    let err = err_text(fetch(&cfg, REPO, "nope.parquet"));
    let url = format!("{}/datasets/test/tiny/resolve/main/nope.parquet", server.endpoint());
    assert!(err.contains(&format!("{url}: HTTP 404")), "{err}");
    assert!(!snapshot(&cfg, "nope.parquet").exists());
    Ok(())
}

#[test]
fn truncated_body_leaves_no_file_and_the_next_run_resumes() -> Result<()> {
    let server = HubServer::start()?;
    let tmp = tempfile::tempdir()?;
    let cfg = config(&server, tmp.path());
    let body = payload(20_000);
    let spec = lfs(body.clone(), Serve::Truncate(1));
    let part = cfg.cache_dir.join("datasets--test--tiny/blobs").join(format!("{}.part", spec.etag));
    server.put(&route(REPO, "big.bin"), spec);
    let err = err_text(fetch(&cfg, REPO, "big.bin"));
    assert!(err.contains("closed before all bytes were read"), "{err}");
    assert!(!snapshot(&cfg, "big.bin").exists(), "no file at the final path");
    assert_eq!(std::fs::metadata(&part)?.len(), 10_000, "half the body kept for resuming");
    let got = fetch(&cfg, REPO, "big.bin")?;
    assert_eq!(std::fs::read(&got.path)?, body);
    assert!(got.sha256_checked && !part.exists());
    Ok(())
}

#[test]
fn wrong_checksum_is_removed_and_the_next_run_recovers() -> Result<()> {
    let server = HubServer::start()?;
    let tmp = tempfile::tempdir()?;
    let cfg = config(&server, tmp.path());
    let body = payload(3000);
    server.put(&route(REPO, "w.bin"), lfs(body.clone(), Serve::Corrupt));
    let err = err_text(fetch(&cfg, REPO, "w.bin"));
    assert!(err.contains("sha256 mismatch") && err.contains("removed from the cache"), "{err}");
    assert!(!snapshot(&cfg, "w.bin").exists());
    let blobs = cfg.cache_dir.join("datasets--test--tiny/blobs");
    let left: Vec<String> = std::fs::read_dir(&blobs)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    server.put(&route(REPO, "w.bin"), lfs(body.clone(), Serve::Honest));
    assert_eq!(std::fs::read(fetch(&cfg, REPO, "w.bin")?.path)?, body);
    Ok(())
}

#[test]
fn renamed_repository_is_followed_through_its_relative_redirect() -> Result<()> {
    let server = HubServer::start()?;
    let tmp = tempfile::tempdir()?;
    let cfg = config(&server, tmp.path());
    let old = HubRepo { id: "old/name", ..REPO };
    server.redirect(&route(old, "r.bin"), &route(REPO, "r.bin"));
    server.put(&route(REPO, "r.bin"), lfs(payload(64), Serve::Honest));
    let got = fetch(&cfg, old, "r.bin")?;
    assert!(got.sha256_checked);
    assert_eq!(std::fs::read(&got.path)?, payload(64));
    Ok(())
}

/// A parquet file shaped like the hub's image data sets: `image {bytes, path}`, `label` (snappy).
fn image_parquet(path: &Path, column: &str, pngs: &[Vec<u8>], labels: &[i64]) -> Result<()> {
    let schema = format!(
        "message schema {{ optional group {column} {{ optional binary bytes; optional binary path (STRING); }} optional int64 label; }}"
    );
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let file = std::fs::File::create(path)?;
    let mut w = SerializedFileWriter::new(file, Arc::new(parse_message_type(&schema)?), Arc::new(props))?;
    let mut rg = w.next_row_group()?;
    let n = pngs.len();
    let mut col = rg.next_column()?.context("bytes column")?;
    let bytes: Vec<ByteArray> = pngs.iter().map(|p| ByteArray::from(p.clone())).collect();
    col.typed::<ByteArrayType>().write_batch(&bytes, Some(&vec![2; n]), None)?;
    col.close()?;
    let mut col = rg.next_column()?.context("path column")?;
    col.typed::<ByteArrayType>().write_batch(&[], Some(&vec![1; n]), None)?;
    col.close()?;
    let mut col = rg.next_column()?.context("label column")?;
    col.typed::<Int64Type>().write_batch(labels, Some(&vec![1; n]), None)?;
    col.close()?;
    rg.close()?;
    w.close()?;
    Ok(())
}

fn png(img: image::DynamicImage) -> Result<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

fn grey(w: u32, h: u32, seed: u8) -> Result<Vec<u8>> {
    let px: Vec<u8> = (0..w * h).map(|i| (i as u8).wrapping_mul(17).wrapping_add(seed)).collect();
    png(image::DynamicImage::ImageLuma8(image::GrayImage::from_raw(w, h, px).context("grey image")?))
}

const MNIST_LIKE: Entry = Entry {
    name: "tiny-mnist",
    repo: REPO,
    files: &["mnist/train.parquet", "mnist/test.parquet"],
    output: Output::Idx { image_column: "image" },
    classes: &[],
    about: "",
};

#[test]
fn mnist_style_parquet_becomes_idx_that_foundations_loads() -> Result<()> {
    let server = HubServer::start()?;
    let tmp = tempfile::tempdir()?;
    let cfg = config(&server, tmp.path());
    let (train, test) = (tmp.path().join("train.parquet"), tmp.path().join("test.parquet"));
    image_parquet(&train, "image", &[grey(5, 4, 0)?, grey(5, 4, 1)?, grey(5, 4, 2)?], &[7, 0, 9])?;
    image_parquet(&test, "image", &[grey(5, 4, 3)?, grey(5, 4, 4)?], &[3, 1])?;
    for (file, path) in [("mnist/train.parquet", &train), ("mnist/test.parquet", &test)] {
        server.put(&route(REPO, file), lfs(std::fs::read(path)?, Serve::Honest));
    }
    let out = tmp.path().join("out");
    let stamp = download(&MNIST_LIKE, &cfg, &out)?;
    assert_eq!(stamp.outputs.len(), 4);
    assert_eq!(stamp.sources[0], ("mnist/train.parquet".to_string(), sha256_file(&train)?));

    let (tr, te) = dls_foundations::data::load_mnist_dir(&out)?;
    assert_eq!(tr.x.dims(), [3, 1, 4, 5]);
    assert_eq!(tr.y.to_vec1::<u32>()?, [7, 0, 9]);
    assert_eq!(te.y.to_vec1::<u32>()?, [3, 1]);
    // Pixel (row 1, col 2) of the second test image: index 7, (7 * 17 + 4) / 255.
    let v = te.x.get(1)?.flatten_all()?.to_vec1::<f32>()?[7];
    assert!((v - 123.0 / 255.0).abs() < 1e-6, "{v}");

    // A second run with the same sources only probes, and leaves the outputs alone.
    let before = server.requests();
    assert_eq!(download(&MNIST_LIKE, &cfg, &out)?, stamp);
    assert_eq!(server.requests(), before + 2);
    let stamp_json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join(STAMP))?)?;
    assert_eq!(stamp_json["outputs"][0], "train-images-idx3-ubyte");
    Ok(())
}

#[test]
fn cifar_style_parquet_becomes_binary_batches() -> Result<()> {
    let server = HubServer::start()?;
    let tmp = tempfile::tempdir()?;
    let cfg = config(&server, tmp.path());
    let rgb = |seed: u8| -> Result<Vec<u8>> {
        let px: Vec<u8> = (0..12u8).map(|i| i * 10 + seed).collect();
        png(image::DynamicImage::ImageRgb8(image::RgbImage::from_raw(2, 2, px).context("rgb image")?))
    };
    let entry = Entry {
        files: &["c/train.parquet", "c/test.parquet"],
        output: Output::Cifar { image_column: "img" },
        classes: &["a", "b"],
        ..MNIST_LIKE
    };
    let (train, test) = (tmp.path().join("train.parquet"), tmp.path().join("test.parquet"));
    image_parquet(&train, "img", &[rgb(0)?, rgb(1)?], &[4, 2])?;
    image_parquet(&test, "img", &[rgb(2)?], &[1])?;
    server.put(&route(REPO, "c/train.parquet"), lfs(std::fs::read(&train)?, Serve::Honest));
    server.put(&route(REPO, "c/test.parquet"), lfs(std::fs::read(&test)?, Serve::Honest));
    let out = tmp.path().join("cifar");
    let stamp = download(&entry, &cfg, &out)?;
    assert_eq!(stamp.outputs, ["data_batch_1.bin", "test_batch.bin", "batches.meta.txt"]);
    // Record: label, then the R plane (pixels 0..4 of channel 0: 0, 30, 60, 90), G, B.
    let test_bin = std::fs::read(out.join("test_batch.bin"))?;
    assert_eq!(test_bin, [1, 2, 32, 62, 92, 12, 42, 72, 102, 22, 52, 82, 112]);
    assert_eq!(std::fs::read(out.join("data_batch_1.bin"))?.len(), 2 * 13);
    assert_eq!(std::fs::read_to_string(out.join("batches.meta.txt"))?, "a\nb\n");
    Ok(())
}

#[test]
fn weights_are_placed_beside_and_bad_parquet_is_named() -> Result<()> {
    let server = HubServer::start()?;
    let tmp = tempfile::tempdir()?;
    let cfg = config(&server, tmp.path());
    let model = HubRepo { id: "test/net", kind: RepoKind::Model, revision: "main" };
    let weights = Entry {
        name: "net",
        repo: model,
        files: &["model.safetensors"],
        output: Output::Weights,
        ..MNIST_LIKE
    };
    server.put(&route(model, "model.safetensors"), lfs(payload(777), Serve::Honest));
    let out = tmp.path().join("w");
    download(&weights, &cfg, &out)?;
    assert_eq!(std::fs::read(out.join("net.safetensors"))?, payload(777));

    // Not parquet at all: the error names the cached file.
    server.put(&route(REPO, "mnist/train.parquet"), lfs(b"PAR1 not really".to_vec(), Serve::Honest));
    server.put(&route(REPO, "mnist/test.parquet"), lfs(b"PAR1 not really".to_vec(), Serve::Honest));
    let err = err_text(download(&MNIST_LIKE, &cfg, &tmp.path().join("bad")));
    assert!(err.contains("reading parquet") && err.contains("mnist/train.parquet"), "{err}");
    assert!(!tmp.path().join("bad").join(STAMP).exists());
    Ok(())
}

/// A darknet 0.2 header (20 bytes) and then `floats` float32 values.
fn darknet_file(floats: usize) -> Vec<u8> {
    let mut out: Vec<u8> = [0i32, 2, 0].iter().flat_map(|v| v.to_le_bytes()).collect();
    out.extend(32_013_312i64.to_le_bytes());
    out.extend((0..floats).flat_map(|i| (i as f32 * 0.5).to_le_bytes()));
    out
}

#[test]
fn darknet_weights_are_checked_and_placed_with_their_cfg() -> Result<()> {
    let server = HubServer::start()?;
    let tmp = tempfile::tempdir()?;
    let cfg = config(&server, tmp.path());
    let model = HubRepo { id: "test/yolo", kind: RepoKind::Model, revision: "main" };
    let entry = Entry {
        name: "tiny-yolo",
        repo: model,
        files: &["yolo/tiny-yolo.weights"],
        output: Output::Darknet { floats: 6, extras: &[("tiny-yolo.cfg", "[net]\n"), ("coco.names", "cup")] },
        ..MNIST_LIKE
    };
    server.put(&route(model, "yolo/tiny-yolo.weights"), lfs(darknet_file(6), Serve::Honest));
    let out = tmp.path().join("yolo");
    let stamp = download(&entry, &cfg, &out)?;
    assert_eq!(stamp.outputs, ["tiny-yolo.weights", "tiny-yolo.cfg", "coco.names"]);
    assert_eq!(std::fs::read(out.join("tiny-yolo.weights"))?, darknet_file(6));
    assert_eq!(std::fs::read_to_string(out.join("tiny-yolo.cfg"))?, "[net]\n");
    assert_eq!(std::fs::read_to_string(out.join("coco.names"))?, "cup");

    // A file with one float too few for the cfg: named, counts given, nothing written.
    let short = HubRepo { id: "test/short", ..model };
    server.put(&route(short, "yolo/tiny-yolo.weights"), lfs(darknet_file(5), Serve::Honest));
    let bad = tmp.path().join("bad");
    let err = err_text(download(&Entry { repo: short, ..entry }, &cfg, &bad));
    assert!(
        err.contains("expected 6 floats after a 20-byte header (44 bytes), found 5 floats (40 bytes)"),
        "{err}"
    );
    assert!(!bad.join("tiny-yolo.weights").exists() && !bad.join(STAMP).exists());
    // Shorter than the header itself.
    let stub = HubRepo { id: "test/stub", ..model };
    server.put(&route(stub, "yolo/tiny-yolo.weights"), lfs(vec![0, 0, 0], Serve::Honest));
    let err = err_text(download(&Entry { repo: stub, ..entry }, &cfg, &tmp.path().join("stub")));
    assert!(err.contains("3 bytes, shorter than a darknet header"), "{err}");
    Ok(())
}
