//! A word-embedding lookup initialised from pretrained vectors, frozen or trained further.

use candle_core::{DType, Tensor};
use candle_nn::Init;
use dls_foundations::Params;

use crate::{Error, Result};

/// Whether the pretrained vectors are updated during training.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EmbeddingMode {
    /// The table is a constant: no gradient is computed for it (the course's Emojify choice).
    #[default]
    Frozen,
    /// The table is a variable of the [`Params`] store, trained with the rest of the model.
    Trainable,
}

/// An embedding table `[rows, dim]`: ids `u32 [...]` to vectors `[..., dim]`.
#[derive(Clone, Debug)]
pub struct WordEmbedding {
    table: Tensor,
}

impl WordEmbedding {
    /// A lookup over `vectors` `[rows, dim]`. [`EmbeddingMode::Trainable`] registers the table as
    /// variable `name` of `params` (with the dtype and device of `vectors`), so it is saved with
    /// the model and handed to optimisers by [`Params::trainable`]; [`EmbeddingMode::Frozen`]
    /// keeps a constant copy outside the store.
    ///
    /// # Errors
    /// [`Error::Invalid`] unless `vectors` is a non-empty float matrix; candle errors when `params`
    /// already holds `name` with another shape.
    pub fn new(params: &Params, name: &str, vectors: &Tensor, mode: EmbeddingMode) -> Result<Self> {
        let (rows, dim) = vectors.dims2().map_err(|_| {
            Error::invalid("embedding vectors", format!("expected [rows, dim], got {:?}", vectors.dims()))
        })?;
        if rows == 0 || dim == 0 || !vectors.dtype().is_float() {
            return Err(Error::invalid(
                "embedding vectors",
                format!("expected a non-empty float matrix, got {:?} {:?}", vectors.dims(), vectors.dtype()),
            ));
        }
        let table = match mode {
            EmbeddingMode::Frozen => vectors.detach().copy()?,
            EmbeddingMode::Trainable => {
                let vb = params.var_builder(vectors.dtype(), vectors.device());
                let table = vb.get_with_hints((rows, dim), name, Init::Const(0.0))?;
                params.get(name)?.set(vectors)?;
                table
            }
        };
        Ok(Self { table })
    }

    /// The table `[rows, dim]` (a variable when trainable).
    pub fn table(&self) -> &Tensor {
        &self.table
    }

    /// Rows (ids `0..rows`).
    pub fn rows(&self) -> usize {
        self.table.dims().first().copied().unwrap_or(0)
    }

    /// Vector width.
    pub fn dim(&self) -> usize {
        self.table.dims().get(1).copied().unwrap_or(0)
    }

    /// The dtype of the vectors.
    pub fn dtype(&self) -> DType {
        self.table.dtype()
    }

    /// The vectors of `ids` (`u32 [n]`): `[n, dim]`.
    ///
    /// # Errors
    /// Candle errors (callers check the ids with [`check_ids`] first).
    pub fn lookup(&self, ids: &Tensor) -> Result<Tensor> {
        Ok(self.table.index_select(ids, 0)?)
    }
}

/// The ids of a batch `u32 [batch, time]` as rows, checked against a table of `rows` rows.
///
/// # Errors
/// [`Error::Invalid`] for a tensor that is not `[batch, time]` of an integer dtype, or an id
/// `>= rows` (naming the sequence and position).
pub fn check_ids(ids: &Tensor, rows: usize) -> Result<Vec<Vec<u32>>> {
    if ids.rank() != 2 || ids.dtype().is_float() {
        return Err(Error::invalid(
            "word ids",
            format!("expected integer ids [batch, time], got {:?} {:?}", ids.dims(), ids.dtype()),
        ));
    }
    let ids = ids.to_dtype(DType::U32)?.to_vec2::<u32>()?;
    for (b, row) in ids.iter().enumerate() {
        if let Some((t, &id)) = row.iter().enumerate().find(|(_, &id)| id as usize >= rows) {
            return Err(Error::invalid(
                "word ids",
                format!("sequence {b} position {t}: id {id} is outside the table of {rows} rows"),
            ));
        }
    }
    Ok(ids)
}

/// Error of a [`candle_nn::ModuleT`] forward pass carrying our error.
pub(crate) fn wrap(e: Error) -> candle_core::Error {
    match e {
        Error::Candle(c) => c,
        other => candle_core::Error::wrap(other),
    }
}
