//! The parameter counts the memory estimates rest on, checked against real checkpoints: every
//! parity fixture's safetensors holds exactly as many numbers as its config.json implies.

use std::io::Read;
use std::path::{Path, PathBuf};

use onevision_engine::hardware::ModelSize;
use onevision_model::ModelConfig;

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/parity/fixtures");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path().join("model"))
        .filter(|m| m.join("config.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// (elements, whether an `lm_head.weight` is stored) over every safetensors file of `dir`.
fn stored(dir: &Path) -> (u64, bool) {
    let mut total = 0;
    let mut head = false;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("safetensors") {
            continue;
        }
        let mut f = std::fs::File::open(&p).unwrap();
        let mut len = [0u8; 8];
        f.read_exact(&mut len).unwrap();
        let mut header = vec![0u8; u64::from_le_bytes(len) as usize];
        f.read_exact(&mut header).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&header).unwrap();
        for (name, t) in v.as_object().unwrap() {
            if name == "__metadata__" {
                continue;
            }
            head |= name == "lm_head.weight";
            total += t["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .product::<u64>();
        }
    }
    (total, head)
}

#[test]
fn counts_from_config_match_the_tensors_stored() {
    let dirs = fixtures();
    assert!(dirs.len() >= 5, "{dirs:?}");
    let mut tied_seen = false;
    for dir in dirs {
        let config = ModelConfig::from_file(&dir.join("config.json")).unwrap();
        let size = ModelSize::from_config(&config);
        let (elements, has_head) = stored(&dir);
        assert_eq!(size.tied, !has_head, "{}", dir.display());
        tied_seen |= size.tied;
        assert_eq!(size.total_params(), elements, "{}", dir.display());
    }
    assert!(tied_seen, "no tied fixture: the tied branch went unchecked");
}
