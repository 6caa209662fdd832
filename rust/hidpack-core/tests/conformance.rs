//! Conformance: every vector in tests/vectors/v1 and every golden file in tests/golden/* reads
//! to its JSON; the generator, run again now, writes files that read to the same JSON.

#[path = "../examples/gen_vectors.rs"]
#[allow(dead_code)]
mod gen;

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn check_dir(dir: &Path) -> usize {
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries.iter().filter(|p| p.extension().is_some_and(|e| e == "hpk")) {
        let want: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p.with_extension("json")).unwrap()).unwrap();
        // by path: a write-ahead tail beside the file (`<name>.hpk.wal`) is part of the vector
        let got = gen::dump_path(p);
        assert_eq!(got, want, "{} does not read to its JSON", p.display());
        n += 1;
    }
    n
}

#[test]
fn vectors_read_to_their_json() {
    assert!(check_dir(&repo().join("tests/vectors/v1")) >= 11);
}

#[test]
fn golden_files_of_every_version_still_read() {
    let mut versions = 0;
    for d in std::fs::read_dir(repo().join("tests/golden")).unwrap() {
        let d = d.unwrap().path();
        if d.is_dir() {
            assert!(check_dir(&d) > 0, "{} holds no golden files", d.display());
            versions += 1;
        }
    }
    assert!(versions >= 1);
}

#[test]
fn generator_output_reads_to_the_committed_json() {
    let tmp = std::env::temp_dir().join(format!("hidpack-vectors-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let out = std::process::Command::new(env!("CARGO"))
        .args(["run", "-q", "-p", "hidpack-core", "--example", "gen_vectors", "--"])
        .arg(&tmp)
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for e in std::fs::read_dir(&tmp).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|e| e == "json") {
            let committed = repo().join("tests/vectors/v1").join(p.file_name().unwrap());
            let a: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            let b: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&committed).unwrap()).unwrap();
            assert_eq!(a["events"], b["events"], "{}", p.display());
            assert_eq!(a["header"], b["header"], "{}", p.display());
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
