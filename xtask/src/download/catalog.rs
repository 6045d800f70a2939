//! What `cargo xtask download` knows how to fetch: one row per name, in code.
//!
//! Repository ids and file paths are those on the Hugging Face Hub as of writing (2026); the hub's
//! data sets are the parquet files on each repository's `main` branch.

use std::fmt;

/// A repository on the hub: its id, whether it is a data set or a model, and the revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubRepo {
    /// `owner/name`.
    pub id: &'static str,
    /// Data set or model.
    pub kind: RepoKind,
    /// Branch, tag or commit (`main`).
    pub revision: &'static str,
}

/// The two kinds of hub repositories we fetch from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoKind {
    /// `https://huggingface.co/datasets/<id>`.
    Dataset,
    /// `https://huggingface.co/<id>`.
    Model,
}

impl HubRepo {
    /// The hf-hub [`hf_hub::Repo`] for this repository.
    pub fn to_hf(self) -> hf_hub::Repo {
        let kind = match self.kind {
            RepoKind::Dataset => hf_hub::RepoType::Dataset,
            RepoKind::Model => hf_hub::RepoType::Model,
        };
        hf_hub::Repo::with_revision(self.id.to_string(), kind, self.revision.to_string())
    }
}

impl fmt::Display for HubRepo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RepoKind::Dataset => write!(f, "datasets/{}", self.id),
            RepoKind::Model => write!(f, "{}", self.id),
        }
    }
}

/// What the downloaded files are turned into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Parquet rows of `{image: {bytes: PNG}, label}` (greyscale, `image_column` names the struct)
    /// into the four MNIST IDX files that `dls_foundations::data::load_mnist_dir` reads.
    Idx {
        /// The image column (`image`).
        image_column: &'static str,
    },
    /// Parquet rows of `{img: {bytes: PNG}, label}` (RGB) into the CIFAR-10 binary format:
    /// `data_batch_1.bin`... (10,000 records each) and `test_batch.bin`, a record being the label
    /// byte then 1024 red, 1024 green and 1024 blue bytes; plus `batches.meta.txt`.
    Cifar {
        /// The image column (`img`).
        image_column: &'static str,
    },
    /// A safetensors file, linked (or copied) out of the cache as `<name>.safetensors`.
    Weights,
    /// A darknet `.weights` file, checked (header, then `floats` float32 values) and linked out of
    /// the cache as `<name>.weights`, with the small text files the network needs beside it
    /// (`extras`: file name and content, shipped in this repository).
    Darknet {
        /// How many float32 values follow the header: the count the network's cfg asks for.
        floats: u64,
        /// `(file name, content)` written beside the weights: the cfg and the class names.
        extras: &'static [(&'static str, &'static str)],
    },
}

/// One downloadable thing.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The name given on the command line.
    pub name: &'static str,
    /// Where it lives.
    pub repo: HubRepo,
    /// Files of the repository: `[train, test]` for data sets, `[weights]` for models.
    pub files: &'static [&'static str],
    /// What they become.
    pub output: Output,
    /// Class names for the `batches.meta.txt` of CIFAR-style outputs (empty otherwise).
    pub classes: &'static [&'static str],
    /// One line for `--list`.
    pub about: &'static str,
}

const fn dataset(id: &'static str) -> HubRepo {
    HubRepo { id, kind: RepoKind::Dataset, revision: "main" }
}

const fn model(id: &'static str) -> HubRepo {
    HubRepo { id, kind: RepoKind::Model, revision: "main" }
}

/// Everything `download` can fetch, in `--list` order.
pub const CATALOG: &[Entry] = &[
    Entry {
        name: "mnist",
        repo: dataset("ylecun/mnist"),
        files: &["mnist/train-00000-of-00001.parquet", "mnist/test-00000-of-00001.parquet"],
        output: Output::Idx { image_column: "image" },
        classes: &[],
        about: "MNIST digits, 60k/10k 28x28, as IDX files",
    },
    Entry {
        name: "fashion-mnist",
        repo: dataset("zalando-datasets/fashion_mnist"),
        files: &["fashion_mnist/train-00000-of-00001.parquet", "fashion_mnist/test-00000-of-00001.parquet"],
        output: Output::Idx { image_column: "image" },
        classes: &[],
        about: "Fashion-MNIST, 60k/10k 28x28, as IDX files",
    },
    Entry {
        name: "cifar10",
        repo: dataset("uoft-cs/cifar10"),
        files: &["plain_text/train-00000-of-00001.parquet", "plain_text/test-00000-of-00001.parquet"],
        output: Output::Cifar { image_column: "img" },
        classes: &["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
        about: "CIFAR-10, 50k/10k 32x32 RGB, in the CIFAR binary format",
    },
    Entry {
        name: "resnet18",
        repo: model("timm/resnet18.a1_in1k"),
        files: &["model.safetensors"],
        output: Output::Weights,
        classes: &[],
        about: "ResNet-18 ImageNet weights (timm names), safetensors",
    },
    Entry {
        name: "vgg19",
        repo: model("timm/vgg19.tv_in1k"),
        files: &["model.safetensors"],
        output: Output::Weights,
        classes: &[],
        about: "VGG-19 ImageNet weights (torchvision's, timm names), safetensors",
    },
    Entry {
        name: "yolov3-tiny",
        repo: model("ggml-org/models"),
        files: &["yolo/yolov3-tiny.weights"],
        // 13 convolutions of yolov3-tiny.cfg: 8,858,734 floats (biases, batch norm, kernels).
        output: Output::Darknet {
            floats: 8_858_734,
            extras: &[
                ("yolov3-tiny.cfg", include_str!("../../../vision/data/yolov3-tiny/yolov3-tiny.cfg")),
                ("coco.names", include_str!("../../../vision/data/yolov3-tiny/coco.names")),
            ],
        },
        classes: &[],
        about: "YOLOv3-tiny COCO weights (darknet), with its cfg and class names",
    },
];

/// The entry called `name`.
///
/// # Errors
/// An unknown name, listing the known ones.
pub fn find(name: &str) -> anyhow::Result<&'static Entry> {
    CATALOG.iter().find(|e| e.name == name).ok_or_else(|| {
        let known: Vec<&str> = CATALOG.iter().map(|e| e.name).collect();
        anyhow::anyhow!("unknown download `{name}`; known: {}", known.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() -> anyhow::Result<()> {
        for e in CATALOG {
            assert_eq!(find(e.name)?.name, e.name);
            let want = if matches!(e.output, Output::Weights | Output::Darknet { .. }) { 1 } else { 2 };
            assert_eq!(e.files.len(), want, "{}", e.name);
        }
        let err = format!("{:#}", find("imagenet").map(|_| ()).unwrap_err());
        assert!(err.contains("unknown download `imagenet`") && err.contains("cifar10"), "{err}");
        assert_eq!(find("cifar10")?.repo.to_string(), "datasets/uoft-cs/cifar10");
        assert_eq!(find("resnet18")?.repo.to_string(), "timm/resnet18.a1_in1k");
        Ok(())
    }
}
