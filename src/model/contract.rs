//! The scoring contract written into every model file (`"contract"` in the `dga_lite`
//! metadata): everything another framework needs to turn a name into the score dga-lite
//! gives, without reading this code. `examples/numpy_scorer.py` follows it and is checked
//! against dga-lite's scores in CI. Bump `VERSION` when any rule changes meaning.

use serde_json::{Value, json};

pub const VERSION: u32 = 1;

/// The contract for a model of `architecture` (`endgame-lstm`, `endgame-lstm-multiclass`,
/// `snowman-cnn`, `lstm-cnn-ensemble`) with `recurrent_activation` (LSTM models).
pub fn contract(architecture: &str, recurrent_activation: Option<&str>) -> Value {
    let mut contract = json!({
        "version": VERSION,
        "normalise": "trim ASCII whitespace; drop one trailing '.'; lowercase ASCII; a name \
            that is then empty, non-ASCII, over 253 characters, has an empty label or one over \
            63 characters, or holds a character outside [a-z0-9_.-] is invalid and not scored",
        "encode": {
            "indices": "index 0 is padding, 1 is a character not in `vocab`, and the i-th \
                character of `vocab` (from 0) is index i + 2; the embedding has len(vocab) + 2 rows",
            "length": "maxlen (75) indices per name: longer names keep their last 75 \
                characters; shorter ones are pre-padded with 0 (padding first, name last)",
            "padding_masked": false,
        },
        "tensors": "float32, little-endian; Keras layouts: a dense or LSTM `kernel` is \
            [inputs, outputs], applied as x @ kernel + bias",
    });
    let network = match architecture {
        "lstm-cnn-ensemble" => json!({
            "members": {
                "lstm/": network("endgame-lstm", recurrent_activation),
                "cnn/": network("snowman-cnn", None),
            },
            "score": "config.lstm_weight * (the lstm/ member's score) + (1 - \
                config.lstm_weight) * (the cnn/ member's score); each member is the network its \
                entry describes, its tensors named with the prefix (lstm/embedding.weight, ...), \
                both on the same indices",
        }),
        other => network(other, recurrent_activation),
    };
    if let (Value::Object(all), Value::Object(more)) = (&mut contract, network) {
        all.extend(more);
    }
    contract
}

/// The layers, output and score of one network.
fn network(architecture: &str, recurrent_activation: Option<&str>) -> Value {
    match architecture {
        "snowman-cnn" => json!({
            "layers": [
                "embedding.weight[indices] -> [75, embedding_dim] (padding rows included)",
                "for each branch k (conv{k}.kernel [width, embedding_dim, filters]): valid 1-D \
                    convolution over the 75 positions, out[t, f] = sum over j < width, c of \
                    x[t + j, c] * kernel[j, c, f] + conv{k}.bias[f]; ReLU; maximum over t",
                "concatenate the branches' maxima in branch order -> [branches * filters]",
                "dense: x @ dense.kernel + dense.bias -> one logit",
            ],
            "output": "sigmoid(logit)",
            "score": "the output: the probability of DGA",
        }),
        _ => {
            let gate = match recurrent_activation {
                Some("hard_sigmoid") => {
                    "hard_sigmoid(x) = clip(0.2 x + 0.5, 0, 1) (Keras 2's, not PyTorch's)"
                }
                _ => "sigmoid(x) = 1 / (1 + exp(-x))",
            };
            let (output, score) = if architecture == "endgame-lstm-multiclass" {
                (
                    "softmax over the logits, in the order of `classes` (benign first)",
                    "1 - P(benign); the family is the most probable class after benign",
                )
            } else {
                ("sigmoid(logit)", "the output: the probability of DGA")
            };
            json!({
                "layers": [
                    "embedding.weight[indices] -> [75, embedding_dim] (padding rows included)",
                    "LSTM over all 75 steps from h = c = 0: z = x_t @ lstm.kernel + h @ \
                        lstm.recurrent_kernel + lstm.bias, split into four blocks of `units` in \
                        the order i, f, c, o; i, f, o = gate(z_i, z_f, z_o); g = tanh(z_c); \
                        c = f * c + i * g; h = o * tanh(c); the last h is the output",
                    "dense: h @ dense.kernel + dense.bias -> the logits",
                ],
                "gate": gate,
                "output": output,
                "score": score,
            })
        }
    }
}
