//! The semantic head: one linear classifier per output over the encoder's vector, the
//! cascade's settings chosen on validation lines, and the identity of the encoder it was
//! trained with — and the byte form the snapshot stores them in.
//!
//! The byte form is owned here, not by storage: storage keeps it as one opaque section
//! (`SectionKind::Semantic`), and [`SemanticHead::from_bytes`] checks every length before it
//! builds anything, so a corrupt section is a typed error at open.

use super::cascade::AnswerKind;
use super::EncoderId;

/// How the cascade uses the head; chosen on the validation lines
/// (`calibrate::choose`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CascadeParams {
    /// Share of the semantic logits in the blend: an escalated query's logits are
    /// `(1 − blend) · lexical + blend · semantic`.
    pub blend: f32,
    /// The encoder runs for a lexical *match* whose margin
    /// (`cascade::lexical_margin`) is below this (`-inf`: never; `+inf`: always).
    pub escalate_below_match: f32,
    /// The same for a lexical *no match*. A separate cut-off, because the two kinds of answer
    /// come from different traffic: out-of-scope queries mostly get "no match", in-scope ones
    /// mostly a match, so one cut-off for both lets the traffic's mix decide the rate.
    pub escalate_below_no_match: f32,
    /// The cascade's no-match threshold on the blended decision value
    /// (`σ(best blended logit − blended out-of-scope logit)`).
    pub threshold: f32,
    /// The escalation rate the choice was held to (the build's `--escalate-at-most`).
    pub max_rate: f32,
    /// The escalation rate on the validation lines at the chosen settings.
    pub val_rate: f32,
    /// The escalation rate of each group of validation lines at the chosen settings; each is
    /// at most `max_rate`, so any mix of the two groups is too. `None` for a head stored
    /// before the rate was held per group.
    pub group_rates: Option<GroupRates>,
}

/// Escalation rates of the in-scope and the out-of-scope validation lines.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupRates {
    /// Share of the in-scope lines escalated.
    pub in_scope: f32,
    /// Share of the out-of-scope lines escalated (0 when there are none).
    pub out_of_scope: f32,
}

impl CascadeParams {
    /// Settings that never escalate (a head whose cascade cannot help), held to `max_rate`.
    pub fn never(max_rate: f32) -> CascadeParams {
        CascadeParams {
            blend: 0.0,
            escalate_below_match: f32::NEG_INFINITY,
            escalate_below_no_match: f32::NEG_INFINITY,
            threshold: 0.5,
            max_rate,
            val_rate: 0.0,
            group_rates: Some(GroupRates {
                in_scope: 0.0,
                out_of_scope: 0.0,
            }),
        }
    }

    /// The cut-off for a lexical answer of `kind`.
    pub fn escalate_below(&self, kind: AnswerKind) -> f32 {
        match kind {
            AnswerKind::Match => self.escalate_below_match,
            AnswerKind::NoMatch => self.escalate_below_no_match,
        }
    }
}

/// A trained head with its cascade settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticHead {
    /// The encoder whose vectors the head was trained on.
    pub encoder: EncoderId,
    /// In-scope classes (the lexical model's layers).
    pub num_classes: u32,
    /// Outputs: `num_classes`, plus one out-of-scope output when the lexical model has one.
    pub outputs: u32,
    /// `outputs × encoder.dim` weights, row-major (one row per output).
    pub weights: Vec<f32>,
    /// One bias per output.
    pub bias: Vec<f32>,
    /// How the cascade uses the head.
    pub params: CascadeParams,
}

/// Magic at the start of the stored head: version 2 has a cut-off per kind of answer and the
/// per-group rates.
const MAGIC: [u8; 8] = *b"JSEMHD02";
/// Version 1 (one cut-off for both kinds of answer), still read: its one cut-off serves both
/// kinds, which is exactly how it decided.
const MAGIC_V1: [u8; 8] = *b"JSEMHD01";

/// Why a stored head could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("semantic head: {0}")]
pub struct HeadError(pub String);

impl SemanticHead {
    /// The head's logits for one embedding, into `out` (`outputs` entries).
    pub fn logits_into(&self, embedding: &[f32], out: &mut Vec<f32>) {
        let dim = self.encoder.dim as usize;
        out.clear();
        out.extend(
            self.weights
                .chunks_exact(dim)
                .zip(&self.bias)
                .map(|(row, b)| b + row.iter().zip(embedding).map(|(w, x)| w * x).sum::<f32>()),
        );
    }

    /// The stored form: magic, scalars, the encoder's digest and name, weights, bias; all
    /// little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96 + 4 * (self.weights.len() + self.bias.len()));
        out.extend_from_slice(&MAGIC);
        for v in [self.num_classes, self.outputs, self.encoder.dim] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let p = &self.params;
        // A head without per-group rates is written with NaN ones (read back as `None`).
        let rates = p
            .group_rates
            .map_or([f32::NAN; 2], |g| [g.in_scope, g.out_of_scope]);
        for v in [
            p.blend,
            p.escalate_below_match,
            p.escalate_below_no_match,
            p.threshold,
            p.max_rate,
            p.val_rate,
            rates[0],
            rates[1],
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        self.write_tail(&mut out);
        out
    }

    /// The part of the byte form every version shares after the scalars: the encoder's
    /// digest and name, then the weights and the bias.
    fn write_tail(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.encoder.digest);
        out.extend_from_slice(&(self.encoder.name.len() as u32).to_le_bytes());
        out.extend_from_slice(self.encoder.name.as_bytes());
        for v in self.weights.iter().chain(&self.bias) {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// Reads [`SemanticHead::to_bytes`]'s form, checking every length and value it relies on.
    pub fn from_bytes(bytes: &[u8]) -> Result<SemanticHead, HeadError> {
        let mut r = Reader { bytes, at: 0 };
        let magic = r.take(8)?;
        let v1 = magic == MAGIC_V1;
        if magic != MAGIC && !v1 {
            return Err(HeadError("bad magic".into()));
        }
        let num_classes = r.u32()?;
        let outputs = r.u32()?;
        let dim = r.u32()?;
        let blend = r.f32()?;
        let escalate_below_match = r.f32()?;
        let escalate_below_no_match = if v1 { escalate_below_match } else { r.f32()? };
        let threshold = r.f32()?;
        let max_rate = r.f32()?;
        let val_rate = r.f32()?;
        let group_rates = if v1 {
            None
        } else {
            let (in_scope, out_of_scope) = (r.f32()?, r.f32()?);
            (!in_scope.is_nan() || !out_of_scope.is_nan()).then_some(GroupRates {
                in_scope,
                out_of_scope,
            })
        };
        let params = CascadeParams {
            blend,
            escalate_below_match,
            escalate_below_no_match,
            threshold,
            max_rate,
            val_rate,
            group_rates,
        };
        let digest: [u8; 32] = r.take(32)?.try_into().expect("32 bytes");
        let name_len = r.u32()? as usize;
        let name = std::str::from_utf8(r.take(name_len)?)
            .map_err(|_| HeadError("encoder name is not UTF-8".into()))?
            .to_string();
        if outputs != num_classes && outputs != num_classes + 1 {
            return Err(HeadError(format!(
                "{outputs} outputs for {num_classes} classes"
            )));
        }
        if dim == 0 || dim > 65_536 {
            return Err(HeadError(format!("embedding dimension {dim}")));
        }
        let n_weights = outputs as usize * dim as usize;
        let weights = r.f32s(n_weights)?;
        let bias = r.f32s(outputs as usize)?;
        if r.at != bytes.len() {
            return Err(HeadError(format!(
                "{} bytes after the head",
                bytes.len() - r.at
            )));
        }
        if !(0.0..=1.0).contains(&params.blend)
            || !(0.0..=1.0).contains(&params.threshold)
            || params.escalate_below_match.is_nan()
            || params.escalate_below_no_match.is_nan()
            || weights.iter().chain(&bias).any(|v| !v.is_finite())
        {
            return Err(HeadError("parameter out of range or not finite".into()));
        }
        Ok(SemanticHead {
            encoder: EncoderId { digest, dim, name },
            num_classes,
            outputs,
            weights,
            bias,
            params,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], HeadError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| HeadError(format!("truncated at byte {}", self.at)))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, HeadError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn f32(&mut self) -> Result<f32, HeadError> {
        Ok(f32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn f32s(&mut self, n: usize) -> Result<Vec<f32>, HeadError> {
        let bytes = self.take(
            n.checked_mul(4)
                .ok_or_else(|| HeadError("too large".into()))?,
        )?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> SemanticHead {
        SemanticHead {
            encoder: EncoderId {
                digest: [7; 32],
                dim: 3,
                name: "tiny".into(),
            },
            num_classes: 2,
            outputs: 3,
            weights: vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            bias: vec![0.1, 0.2, -0.3],
            params: CascadeParams {
                blend: 0.5,
                escalate_below_match: 0.25,
                escalate_below_no_match: 1.5,
                threshold: 0.4,
                max_rate: 0.3,
                val_rate: 0.28,
                group_rates: Some(GroupRates {
                    in_scope: 0.27,
                    out_of_scope: 0.3,
                }),
            },
        }
    }

    #[test]
    fn bytes_round_trip_and_corruption_is_an_error() {
        let h = head();
        let bytes = h.to_bytes();
        assert_eq!(SemanticHead::from_bytes(&bytes).unwrap(), h);
        for cut in [0, 7, 20, bytes.len() - 1] {
            assert!(
                SemanticHead::from_bytes(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(SemanticHead::from_bytes(&extra).is_err());
        let mut nan = bytes.clone();
        let at = nan.len() - 4;
        nan[at..].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(SemanticHead::from_bytes(&nan).is_err());
    }

    /// A version-1 head (one cut-off) still opens, and decides as it did: its cut-off serves
    /// both kinds of answer.
    #[test]
    fn version_1_heads_still_open() {
        let h = head();
        let mut v1 = Vec::new();
        v1.extend_from_slice(&MAGIC_V1);
        for v in [h.num_classes, h.outputs, h.encoder.dim] {
            v1.extend_from_slice(&v.to_le_bytes());
        }
        for v in [0.5f32, 0.25, 0.4, 0.3, 0.28] {
            v1.extend_from_slice(&v.to_le_bytes());
        }
        h.write_tail(&mut v1);
        let read = SemanticHead::from_bytes(&v1).unwrap();
        assert_eq!(read.params.escalate_below_match, 0.25);
        assert_eq!(read.params.escalate_below_no_match, 0.25);
        assert_eq!(read.params.group_rates, None);
        assert_eq!(read.weights, h.weights);
    }

    #[test]
    fn logits_are_the_linear_scores() {
        let mut out = Vec::new();
        head().logits_into(&[0.5, -1.0, 2.0], &mut out);
        assert_eq!(out, vec![0.6, -0.8, 1.7]);
    }
}
