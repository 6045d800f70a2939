//! Reading segment files the way sacrebleu's command line does.

use std::io::Write;

use dls_nlp::bleu::read_lines;
use dls_nlp::Error;

fn file_with(bytes: &[u8]) -> anyhow::Result<tempfile::NamedTempFile> {
    let mut f = tempfile::NamedTempFile::new()?;
    f.write_all(bytes)?;
    Ok(f)
}

#[test]
fn lines_split_on_newline_only() -> anyhow::Result<()> {
    let f = file_with(b"first line \r\n\nthird\twith tab\x0bvt\n")?;
    assert_eq!(read_lines(f.path())?, ["first line \r", "", "third\twith tab\x0bvt"]);
    let f = file_with(b"no final newline\nlast")?;
    assert_eq!(read_lines(f.path())?, ["no final newline", "last"]);
    let f = file_with(b"")?;
    assert!(read_lines(f.path())?.is_empty());
    Ok(())
}

#[test]
fn bad_files_get_named_errors() -> anyhow::Result<()> {
    let f = file_with(b"fine\nalso fine\nbad \xff byte\n")?;
    match read_lines(f.path()) {
        Err(Error::Format { line: Some(3), message, .. }) => assert_eq!(message, "invalid UTF-8 at byte 19"),
        other => panic!("expected a format error on line 3, got {other:?}"),
    }
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("missing.txt");
    match read_lines(&missing) {
        Err(Error::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected an i/o error, got {other:?}"),
    }
    Ok(())
}
