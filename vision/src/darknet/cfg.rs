//! Darknet `.cfg` files: `[section]` headers followed by `key=value` lines, `#` or `;` comments.
//! Whitespace inside a line is ignored, as darknet ignores it. Every section and key is checked:
//! an unknown one is an error naming its line, so a typo never silently changes a network.

use crate::detect::Anchor;
use crate::{Error, Result};

/// The `[net]` section: the input the network expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetSpec {
    /// Input width in pixels.
    pub width: usize,
    /// Input height in pixels.
    pub height: usize,
    /// Input channels.
    pub channels: usize,
}

/// A convolution's activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CfgActivation {
    /// `max(x, 0.1 x)`.
    Leaky,
    /// The identity.
    Linear,
    /// `1 / (1 + e^-x)` (darknet's default when a section names none).
    Logistic,
}

/// A `[convolutional]` section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    /// Output channels.
    pub filters: usize,
    /// Square kernel size.
    pub size: usize,
    /// Stride.
    pub stride: usize,
    /// Padding on each side (`pad=1` means `size / 2`).
    pub padding: usize,
    /// Whether a batch norm follows (and the convolution has no bias of its own).
    pub batch_normalize: bool,
    /// Activation after the convolution (and batch norm).
    pub activation: CfgActivation,
}

/// A `[yolo]` section: the anchors this head uses and its classes.
#[derive(Clone, Debug, PartialEq)]
pub struct YoloSpec {
    /// The anchors picked by `mask`, in input pixels.
    pub anchors: Vec<Anchor>,
    /// Number of classes.
    pub classes: usize,
}

/// One layer of a darknet network, in cfg order.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerSpec {
    /// Convolution (+ batch norm) + activation.
    Convolutional(ConvSpec),
    /// Max pooling; darknet pads `padding` in total, `padding / 2` before, with values that never win.
    MaxPool {
        /// Window.
        size: usize,
        /// Step.
        stride: usize,
        /// Total padding per axis (default `size - 1`).
        padding: usize,
    },
    /// Nearest-neighbour upsampling by `stride`.
    Upsample {
        /// Scale factor.
        stride: usize,
    },
    /// Concatenation of earlier layers' outputs along channels (absolute layer indices).
    Route {
        /// Layer indices, already resolved from relative (negative) ones.
        layers: Vec<usize>,
    },
    /// A detection head reading the previous layer.
    Yolo(YoloSpec),
}

/// A parsed cfg: the input and the layers.
#[derive(Clone, Debug, PartialEq)]
pub struct DarknetConfig {
    /// The `[net]` section.
    pub net: NetSpec,
    /// Layers in order, each with the line of its section header.
    pub layers: Vec<(usize, LayerSpec)>,
}

fn format_error(source: &str, line: usize, message: String) -> Error {
    dls_foundations::Error::Format {
        path: source.to_string(),
        offset: None,
        message: format!("line {line}: {message}"),
    }
    .into()
}

/// The options of one section, with the line of each.
struct Section<'a> {
    name: String,
    line: usize,
    options: Vec<(String, String, usize)>,
    source: &'a str,
}

impl Section<'_> {
    fn check_keys(&self, allowed: &[&str]) -> Result<()> {
        for (i, (k, _, line)) in self.options.iter().enumerate() {
            if !allowed.contains(&k.as_str()) {
                return Err(format_error(
                    self.source,
                    *line,
                    format!("unknown key '{k}' in [{}] (known: {})", self.name, allowed.join(", ")),
                ));
            }
            if self.options[..i].iter().any(|(k2, _, _)| k2 == k) {
                return Err(format_error(
                    self.source,
                    *line,
                    format!("duplicate key '{k}' in [{}]", self.name),
                ));
            }
        }
        Ok(())
    }

    fn raw(&self, key: &str) -> Option<(&str, usize)> {
        self.options.iter().find(|(k, _, _)| k == key).map(|(_, v, l)| (v.as_str(), *l))
    }

    fn int(&self, key: &str, default: Option<i64>) -> Result<i64> {
        match (self.raw(key), default) {
            (Some((v, line)), _) => v.parse::<i64>().map_err(|_| {
                format_error(self.source, line, format!("'{key}' must be an integer, got '{v}'"))
            }),
            (None, Some(d)) => Ok(d),
            (None, None) => {
                Err(format_error(self.source, self.line, format!("[{}] needs a '{key}' value", self.name)))
            }
        }
    }

    fn positive(&self, key: &str, default: Option<i64>) -> Result<usize> {
        let v = self.int(key, default)?;
        let line = self.raw(key).map_or(self.line, |(_, l)| l);
        usize::try_from(v)
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| format_error(self.source, line, format!("'{key}' must be > 0, got {v}")))
    }

    fn list<T: std::str::FromStr>(&self, key: &str) -> Result<Vec<T>> {
        let (v, line) = self
            .raw(key)
            .ok_or_else(|| format_error(self.source, self.line, format!("[{}] needs '{key}'", self.name)))?;
        v.split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<T>()
                    .map_err(|_| format_error(self.source, line, format!("bad '{key}' entry '{s}'")))
            })
            .collect()
    }
}

fn sections<'a>(text: &str, source: &'a str) -> Result<Vec<Section<'a>>> {
    let mut out: Vec<Section> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let s: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if s.is_empty() || s.starts_with('#') || s.starts_with(';') {
            continue;
        }
        if let Some(name) = s.strip_prefix('[') {
            let name = name.strip_suffix(']').ok_or_else(|| {
                format_error(source, line, format!("unclosed section header '{}'", raw.trim()))
            })?;
            out.push(Section { name: name.to_string(), line, options: Vec::new(), source });
            continue;
        }
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format_error(source, line, format!("expected key=value, got '{}'", raw.trim())))?;
        let section = out
            .last_mut()
            .ok_or_else(|| format_error(source, line, "option before any [section]".to_string()))?;
        section.options.push((k.to_string(), v.to_string(), line));
    }
    Ok(out)
}

const NET_KEYS: &[&str] = &[
    "batch",
    "subdivisions",
    "width",
    "height",
    "channels",
    "momentum",
    "decay",
    "angle",
    "saturation",
    "exposure",
    "hue",
    "learning_rate",
    "burn_in",
    "max_batches",
    "policy",
    "steps",
    "scales",
];
const CONV_KEYS: &[&str] = &["batch_normalize", "filters", "size", "stride", "pad", "padding", "activation"];
const YOLO_KEYS: &[&str] =
    &["mask", "anchors", "classes", "num", "jitter", "ignore_thresh", "truth_thresh", "random"];

fn conv(s: &Section) -> Result<LayerSpec> {
    s.check_keys(CONV_KEYS)?;
    let size = s.positive("size", Some(1))?;
    let pad = s.int("pad", Some(0))? != 0;
    let padding = if pad { size / 2 } else { s.int("padding", Some(0))?.max(0) as usize };
    let activation = match s.raw("activation") {
        Some(("leaky", _)) => CfgActivation::Leaky,
        Some(("linear", _)) => CfgActivation::Linear,
        Some(("logistic", _)) | None => CfgActivation::Logistic,
        Some((other, line)) => {
            return Err(format_error(
                s.source,
                line,
                format!("unsupported activation '{other}' (leaky, linear, logistic)"),
            ))
        }
    };
    Ok(LayerSpec::Convolutional(ConvSpec {
        filters: s.positive("filters", None)?,
        size,
        stride: s.positive("stride", Some(1))?,
        padding,
        batch_normalize: s.int("batch_normalize", Some(0))? != 0,
        activation,
    }))
}

fn yolo(s: &Section) -> Result<LayerSpec> {
    s.check_keys(YOLO_KEYS)?;
    let classes = s.positive("classes", Some(20))?;
    let values: Vec<f32> = s.list("anchors")?;
    if values.len() % 2 != 0 || values.iter().any(|v| !(*v > 0.0 && v.is_finite())) {
        let line = s.raw("anchors").map_or(s.line, |(_, l)| l);
        return Err(format_error(
            s.source,
            line,
            format!("anchors must be positive w,h pairs, got {values:?}"),
        ));
    }
    let all: Vec<Anchor> = values.chunks(2).map(|p| Anchor::new(p[0], p[1])).collect();
    let num = s.positive("num", Some(all.len() as i64))?;
    let mask: Vec<usize> = if s.raw("mask").is_some() { s.list("mask")? } else { (0..num).collect() };
    let line = s.raw("mask").map_or(s.line, |(_, l)| l);
    let anchors = mask
        .iter()
        .map(|&m| {
            all.get(m).copied().ok_or_else(|| {
                format_error(s.source, line, format!("mask entry {m} but only {} anchors", all.len()))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(LayerSpec::Yolo(YoloSpec { anchors, classes }))
}

/// Parses a darknet cfg. `source` names the file in errors.
///
/// # Errors
/// A [`dls_foundations::Error::Format`] naming `source` and the line, for a malformed line, an
/// unknown section or key, a missing or invalid value, a route to a layer that does not exist,
/// or a file that does not start with `[net]`.
pub fn parse_cfg(text: &str, source: &str) -> Result<DarknetConfig> {
    let all = sections(text, source)?;
    let Some((first, rest)) = all.split_first() else {
        return Err(format_error(source, 1, "no sections".to_string()));
    };
    if first.name != "net" && first.name != "network" {
        return Err(format_error(source, first.line, format!("expected [net] first, got [{}]", first.name)));
    }
    first.check_keys(NET_KEYS)?;
    let net = NetSpec {
        width: first.positive("width", None)?,
        height: first.positive("height", None)?,
        channels: first.positive("channels", Some(3))?,
    };
    let mut layers = Vec::with_capacity(rest.len());
    for (index, s) in rest.iter().enumerate() {
        let spec = match s.name.as_str() {
            "convolutional" | "conv" => conv(s)?,
            "maxpool" | "max" => {
                s.check_keys(&["size", "stride", "padding"])?;
                let stride = s.positive("stride", Some(1))?;
                let size = s.positive("size", Some(stride as i64))?;
                let padding = s.int("padding", Some(size as i64 - 1))?.max(0) as usize;
                LayerSpec::MaxPool { size, stride, padding }
            }
            "upsample" => {
                s.check_keys(&["stride"])?;
                LayerSpec::Upsample { stride: s.positive("stride", Some(2))? }
            }
            "route" => {
                s.check_keys(&["layers"])?;
                let rel: Vec<i64> = s.list("layers")?;
                let line = s.raw("layers").map_or(s.line, |(_, l)| l);
                let layers = rel
                    .iter()
                    .map(|&l| {
                        let abs = if l < 0 { index as i64 + l } else { l };
                        usize::try_from(abs).ok().filter(|&a| a < index).ok_or_else(|| {
                            format_error(source, line, format!("route to layer {l} from layer {index}"))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                if layers.is_empty() {
                    return Err(format_error(source, line, "route with no layers".to_string()));
                }
                LayerSpec::Route { layers }
            }
            "yolo" => yolo(s)?,
            other => {
                return Err(format_error(
                    source,
                    s.line,
                    format!("unknown section [{other}] (convolutional, maxpool, upsample, route, yolo)"),
                ))
            }
        };
        layers.push((s.line, spec));
    }
    Ok(DarknetConfig { net, layers })
}
