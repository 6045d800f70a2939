//! Sentence classification on word vectors (sheets 25–26's "Emojify" application): which section
//! of the canon a Bible verse comes from.
//!
//! Labels come from each line's reference ([`canon`]: `Gen 1:1` → Law, ... seven sections over the
//! 66 books); [`split`] holds whole chapters out together; [`encode`] turns verses into padded word
//! ids over a set of word vectors; the two models are [`AverageClassifier`] (the mean word vector
//! into softmax) and [`LstmClassifier`] (an LSTM over the vectors into softmax). Both implement
//! candle's `ModuleT`, so `dls_foundations::train::Classifier` trains them with the fit loop.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use dls_foundations::Params;
//! use dls_nlp::classify::{book_section, parse_reference, AverageClassifier, EmbeddingMode, Section, WordEmbedding};
//! let r = parse_reference("1Sam 3:10")?;
//! assert_eq!((r.chapter, r.verse), (3, 10));
//! assert_eq!(book_section(&r.book)?, Some(Section::History));
//! // Two words with vectors [1, 0] and [0, 3] (row 0 is padding), a head that reads the mean.
//! let params = Params::new(0);
//! let table = Tensor::new(&[[0f32, 0.], [1., 0.], [0., 3.]], &Device::Cpu)?;
//! let embed = WordEmbedding::new(&params, "embed.weight", &table, EmbeddingMode::Frozen)?;
//! let model = AverageClassifier::new(params.var_builder(DType::F32, &Device::Cpu), embed, 2)?;
//! let mean = model.average(&Tensor::new(&[[1u32, 2, 0, 0]], &Device::Cpu)?)?;
//! assert_eq!(mean.to_vec2::<f32>()?, vec![vec![0.5, 1.5]]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod average;
pub mod canon;
mod embed;
pub mod encode;
mod lstm;
pub mod split;

use candle_core::Tensor;
use candle_nn::ModuleT;
use dls_foundations::data::Dataset;
use dls_foundations::metrics::{argmax_rows, ConfusionMatrix};

pub use average::AverageClassifier;
pub use canon::{
    book_section, parse_labelled, parse_reference, read_labelled, LabelledVerse, Reference, Section,
};
pub use embed::{check_ids, EmbeddingMode, WordEmbedding};
pub use encode::{embedding_table, EncodeStats, WordIndex, PAD};
pub use lstm::{LstmClassifier, LstmClassifierConfig};
pub use split::{chapter_split, ChapterSplit};

use crate::{Error, Result};

/// The predicted class of every row of `data.x`, by the arg-max of `model`'s logits (evaluation
/// mode, `batch` rows at a time).
///
/// # Errors
/// [`Error::Invalid`] for a zero batch size; the model's errors.
pub fn predict<M: ModuleT>(model: &M, data: &Dataset, batch: usize) -> Result<Vec<u32>> {
    if batch == 0 {
        return Err(Error::invalid("batch", "must be at least 1"));
    }
    let mut out = Vec::with_capacity(data.len());
    for b in data.batches(batch, None)? {
        let (x, _) = b?;
        out.extend(argmax_rows(&model.forward_t(&x, false)?)?);
    }
    Ok(out)
}

/// The confusion matrix of `model` on `data` (labels `u32 [n]`), labelled with the sections'
/// short names.
///
/// # Errors
/// As [`predict`]; [`Error::Invalid`] for a label or prediction outside the seven sections.
pub fn section_confusion<M: ModuleT>(model: &M, data: &Dataset) -> Result<ConfusionMatrix> {
    let pred = predict(model, data, 512)?;
    let truth = data.y.to_dtype(candle_core::DType::U32)?.flatten_all()?.to_vec1::<u32>()?;
    let names: Vec<&str> = Section::ALL.iter().map(|s| s.short_name()).collect();
    Ok(ConfusionMatrix::from_predictions(&pred, &truth, Section::ALL.len())?.with_labels(&names)?)
}

/// The most frequent section of the labels `train` (`u32 [n]`) and the accuracy on the labels
/// `test` of always answering it: the majority-class baseline.
///
/// # Errors
/// Candle errors; [`Error::Empty`] for an empty `test`.
pub fn majority_baseline(train: &Tensor, test: &Tensor) -> Result<(Section, f64)> {
    let count = |t: &Tensor| -> Result<[usize; 7]> {
        let mut c = [0usize; 7];
        for id in t.to_dtype(candle_core::DType::U32)?.flatten_all()?.to_vec1::<u32>()? {
            if let Some(slot) = c.get_mut(id as usize) {
                *slot += 1;
            }
        }
        Ok(c)
    };
    let (tr, te) = (count(train)?, count(test)?);
    let best = (0..7).max_by_key(|&i| (tr[i], std::cmp::Reverse(i))).unwrap_or(0);
    let n: usize = te.iter().sum();
    if n == 0 {
        return Err(Error::Empty("majority baseline: no test labels".into()));
    }
    Ok((Section::from_id(best as u32)?, te[best] as f64 / n as f64))
}
