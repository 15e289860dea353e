//! Integer matrix products for ONNX models that store their weights as int8.
//!
//! Weight-only quantised exports (the all-MiniLM-L6-v2 ONNX file Folio fetches is one)
//! keep each weight matrix as int8 with a per-column scale and rebuild it in float
//! (`MatMul(x, Mul(Cast(W_int8), scale))`), so every product still runs in f32. This
//! module rewrites each such product into ONNX's dynamic quantisation form: the
//! activations are quantised to uint8 per call (`DynamicQuantizeLinear`), multiplied by
//! the stored int8 weights as they are (`MatMulInteger`, VNNI on x86), and the int32
//! result is scaled back to f32 by the activation scale and the weight scale. The weights
//! are not requantised; only the activations lose precision.
//!
//! The rewrite works on the protobuf wire format directly: every field it does not
//! change is copied byte for byte, so nothing the model holds is lost to a schema this
//! crate does not know.

use std::collections::{HashMap, HashSet};

use crate::IndexError;

/// `TensorProto.DataType` values used here.
const FLOAT: u64 = 1;
const INT8: u64 = 3;

/// The outcome of [`rewrite`]: the model bytes and how many products now run in int8.
#[derive(Debug)]
pub(crate) struct Rewritten {
    /// The rewritten model; the input bytes unchanged when nothing matched.
    pub model: Vec<u8>,
    /// Matrix products rewritten.
    pub products: usize,
}

/// Rewrites every `MatMul(x, Mul(Cast(W_int8 → f32), scale))` of `model` (an ONNX
/// `ModelProto`) into a dynamically quantised integer product, where the scale broadcasts
/// along the output columns only and the float weight feeds nothing else.
pub(crate) fn rewrite(model: &[u8]) -> Result<Rewritten, IndexError> {
    let fields = parse_message(model)?;
    let graphs: Vec<&Field> = fields.iter().filter(|f| f.number == 7).collect();
    let [graph_field] = graphs.as_slice() else {
        return Err(corrupt("the model has no single graph"));
    };
    let graph_bytes = graph_field.bytes()?;
    let (graph, products) = rewrite_graph(graph_bytes)?;
    if products == 0 {
        return Ok(Rewritten {
            model: model.to_vec(),
            products,
        });
    }
    let mut out = Vec::with_capacity(model.len() + graph.len() - graph_bytes.len());
    for field in &fields {
        if field.number == 7 {
            put_bytes(&mut out, 7, &graph);
        } else {
            out.extend_from_slice(field.raw);
        }
    }
    Ok(Rewritten {
        model: out,
        products,
    })
}

fn corrupt(what: &str) -> IndexError {
    IndexError::InvalidInput(format!("the ONNX model cannot be read: {what}"))
}

/// One field of a protobuf message: its number, payload and exact encoded bytes.
struct Field<'a> {
    number: u64,
    value: Value<'a>,
    raw: &'a [u8],
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

impl<'a> Field<'a> {
    fn bytes(&self) -> Result<&'a [u8], IndexError> {
        match self.value {
            Value::Bytes(bytes) => Ok(bytes),
            _ => Err(corrupt("a message field is not length-delimited")),
        }
    }

    fn string(&self) -> Result<&'a str, IndexError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| corrupt("a name is not UTF-8"))
    }
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Result<u64, IndexError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes
            .get(*at)
            .ok_or_else(|| corrupt("a varint is cut short"))?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(corrupt("a varint is too long"))
}

fn parse_message(bytes: &[u8]) -> Result<Vec<Field<'_>>, IndexError> {
    let mut fields = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let key = read_varint(bytes, &mut at)?;
        let value = match key & 7 {
            0 => Value::Varint(read_varint(bytes, &mut at)?),
            1 => {
                at += 8;
                Value::Fixed
            }
            2 => {
                let len = usize::try_from(read_varint(bytes, &mut at)?)
                    .map_err(|_| corrupt("a length does not fit in memory"))?;
                let end = at
                    .checked_add(len)
                    .filter(|&end| end <= bytes.len())
                    .ok_or_else(|| corrupt("a field runs past its message"))?;
                let payload = &bytes[at..end];
                at = end;
                Value::Bytes(payload)
            }
            5 => {
                at += 4;
                Value::Fixed
            }
            _ => return Err(corrupt("unsupported wire type")),
        };
        if at > bytes.len() {
            return Err(corrupt("a field runs past its message"));
        }
        fields.push(Field {
            number: key >> 3,
            value,
            raw: &bytes[start..at],
        });
    }
    Ok(fields)
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_bytes(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
    put_varint(out, number << 3 | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The parts of a `NodeProto` the rewrite reads.
struct Node<'a> {
    inputs: Vec<&'a str>,
    outputs: Vec<&'a str>,
    name: &'a str,
    op_type: &'a str,
    domain: &'a str,
    /// `Cast`'s target type, when the node has a `to` attribute.
    cast_to: Option<u64>,
}

fn parse_node(bytes: &[u8]) -> Result<Node<'_>, IndexError> {
    let mut node = Node {
        inputs: Vec::new(),
        outputs: Vec::new(),
        name: "",
        op_type: "",
        domain: "",
        cast_to: None,
    };
    for field in parse_message(bytes)? {
        match field.number {
            1 => node.inputs.push(field.string()?),
            2 => node.outputs.push(field.string()?),
            3 => node.name = field.string()?,
            4 => node.op_type = field.string()?,
            7 => node.domain = field.string()?,
            5 => {
                let attribute = parse_message(field.bytes()?)?;
                let named_to = attribute
                    .iter()
                    .any(|a| a.number == 1 && matches!(a.value, Value::Bytes(b"to")));
                let int = attribute.iter().find_map(|a| match a.value {
                    Value::Varint(v) if a.number == 3 => Some(v),
                    _ => None,
                });
                if named_to {
                    node.cast_to = int;
                }
            }
            _ => {}
        }
    }
    Ok(node)
}

/// An initializer's data type and shape.
struct Tensor {
    data_type: u64,
    dims: Vec<u64>,
}

fn parse_tensor(bytes: &[u8]) -> Result<(String, Tensor), IndexError> {
    let mut name = String::new();
    let mut tensor = Tensor {
        data_type: 0,
        dims: Vec::new(),
    };
    for field in parse_message(bytes)? {
        match (field.number, &field.value) {
            (1, Value::Varint(dim)) => tensor.dims.push(*dim),
            (1, Value::Bytes(packed)) => {
                let mut at = 0;
                while at < packed.len() {
                    tensor.dims.push(read_varint(packed, &mut at)?);
                }
            }
            (2, Value::Varint(data_type)) => tensor.data_type = *data_type,
            (8, _) => name = field.string()?.to_string(),
            _ => {}
        }
    }
    Ok((name, tensor))
}

/// One product to rewrite: the `MatMul` node and the two nodes that rebuilt its weight.
struct Product<'a> {
    activations: &'a str,
    weight: &'a str,
    scale: &'a str,
    output: &'a str,
    name: &'a str,
    rebuild_nodes: [usize; 2],
}

fn rewrite_graph(graph: &[u8]) -> Result<(Vec<u8>, usize), IndexError> {
    let fields = parse_message(graph)?;
    let mut nodes: Vec<(usize, Node)> = Vec::new();
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    let mut consumers: HashMap<&str, usize> = HashMap::new();
    for (position, field) in fields.iter().enumerate() {
        match field.number {
            1 => {
                let node = parse_node(field.bytes()?)?;
                for input in &node.inputs {
                    *consumers.entry(input).or_default() += 1;
                }
                nodes.push((position, node));
            }
            5 => {
                let (name, tensor) = parse_tensor(field.bytes()?)?;
                tensors.insert(name, tensor);
            }
            // Graph outputs (`ValueInfoProto`, name in field 1) are consumers too.
            12 => {
                for output in parse_message(field.bytes()?)? {
                    if output.number == 1 {
                        *consumers.entry(output.string()?).or_default() += 1;
                    }
                }
            }
            _ => {}
        }
    }
    let producer: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .flat_map(|(i, (_, node))| node.outputs.iter().map(move |&o| (o, i)))
        .collect();

    let mut products: HashMap<usize, Product> = HashMap::new();
    for (i, (_, node)) in nodes.iter().enumerate() {
        if let Some(product) = match_product(node, &nodes, &producer, &tensors, &consumers) {
            products.insert(i, product);
        }
    }
    if products.is_empty() {
        return Ok((graph.to_vec(), 0));
    }
    let removed: HashSet<usize> = products
        .values()
        .flat_map(|p| p.rebuild_nodes.iter().map(|&n| nodes[n].0))
        .collect();
    let by_position: HashMap<usize, &Product> = products
        .iter()
        .map(|(&node, product)| (nodes[node].0, product))
        .collect();

    let mut out = Vec::with_capacity(graph.len() + products.len() * 512);
    for (position, field) in fields.iter().enumerate() {
        if removed.contains(&position) {
            continue;
        }
        match by_position.get(&position) {
            Some(product) => {
                for node in integer_product(product) {
                    put_bytes(&mut out, 1, &node);
                }
            }
            None => out.extend_from_slice(field.raw),
        }
    }
    Ok((out, products.len()))
}

fn match_product<'a>(
    node: &Node<'a>,
    nodes: &[(usize, Node<'a>)],
    producer: &HashMap<&str, usize>,
    tensors: &HashMap<String, Tensor>,
    consumers: &HashMap<&str, usize>,
) -> Option<Product<'a>> {
    if node.op_type != "MatMul" || !node.domain.is_empty() || node.inputs.len() != 2 {
        return None;
    }
    let [output] = node.outputs.as_slice() else {
        return None;
    };
    let only_here = |name: &str| consumers.get(name) == Some(&1);
    let weight_f32 = node.inputs[1];
    let mul_index = *producer.get(weight_f32)?;
    let mul = &nodes[mul_index].1;
    if mul.op_type != "Mul" || !mul.domain.is_empty() || mul.inputs.len() != 2 {
        return None;
    }
    if !only_here(weight_f32) {
        return None;
    }
    // The scale may be either operand of the Mul.
    let (cast_output, scale) = if tensors.contains_key(mul.inputs[1]) {
        (mul.inputs[0], mul.inputs[1])
    } else {
        (mul.inputs[1], mul.inputs[0])
    };
    let cast_index = *producer.get(cast_output)?;
    let cast = &nodes[cast_index].1;
    if cast.op_type != "Cast" || cast.cast_to != Some(FLOAT) || !only_here(cast_output) {
        return None;
    }
    let weight = *cast.inputs.first()?;
    let weight_tensor = tensors.get(weight)?;
    let scale_tensor = tensors.get(scale)?;
    let &[_, columns] = weight_tensor.dims.as_slice() else {
        return None;
    };
    // The scale must vary along the output columns only, so that it can be applied to
    // the product instead of the weight.
    let per_column = match scale_tensor.dims.split_last() {
        None => true,
        Some((&last, leading)) => (last == columns || last == 1) && leading.iter().all(|&d| d == 1),
    };
    if weight_tensor.data_type != INT8 || scale_tensor.data_type != FLOAT || !per_column {
        return None;
    }
    Some(Product {
        activations: node.inputs[0],
        weight,
        scale,
        output,
        name: node.name,
        rebuild_nodes: [mul_index, cast_index],
    })
}

/// The encoded nodes that replace one product, in execution order.
fn integer_product(product: &Product) -> Vec<Vec<u8>> {
    let base = if product.name.is_empty() {
        product.output
    } else {
        product.name
    };
    let name = |part: &str| format!("{base}/int8/{part}");
    let value = |part: &str| format!("{}/int8/{part}", product.output);
    let (quantized, act_scale, act_zero) = (value("x_q"), value("x_scale"), value("x_zero"));
    let (int_product, float_product, scaled) = (value("y_i32"), value("y_f32"), value("y_x"));
    vec![
        encode_node(
            &name("quantize"),
            "DynamicQuantizeLinear",
            &[product.activations],
            &[&quantized, &act_scale, &act_zero],
            None,
        ),
        encode_node(
            &name("matmul"),
            "MatMulInteger",
            &[&quantized, product.weight, &act_zero],
            &[&int_product],
            None,
        ),
        encode_node(
            &name("to_float"),
            "Cast",
            &[&int_product],
            &[&float_product],
            Some(FLOAT),
        ),
        encode_node(
            &name("activation_scale"),
            "Mul",
            &[&float_product, &act_scale],
            &[&scaled],
            None,
        ),
        encode_node(
            &name("weight_scale"),
            "Mul",
            &[&scaled, product.scale],
            &[product.output],
            None,
        ),
    ]
}

fn encode_node(
    name: &str,
    op_type: &str,
    inputs: &[&str],
    outputs: &[&str],
    cast_to: Option<u64>,
) -> Vec<u8> {
    let mut node = Vec::new();
    for input in inputs {
        put_bytes(&mut node, 1, input.as_bytes());
    }
    for output in outputs {
        put_bytes(&mut node, 2, output.as_bytes());
    }
    put_bytes(&mut node, 3, name.as_bytes());
    put_bytes(&mut node, 4, op_type.as_bytes());
    if let Some(to) = cast_to {
        // AttributeProto: name = "to", i = to, type = INT (2).
        let mut attribute = Vec::new();
        put_bytes(&mut attribute, 1, b"to");
        put_varint(&mut attribute, 3 << 3);
        put_varint(&mut attribute, to);
        put_varint(&mut attribute, 20 << 3);
        put_varint(&mut attribute, 2);
        put_bytes(&mut node, 5, &attribute);
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(name: &str, data_type: u64, dims: &[u64]) -> Vec<u8> {
        let mut t = Vec::new();
        for &d in dims {
            put_varint(&mut t, 1 << 3);
            put_varint(&mut t, d);
        }
        put_varint(&mut t, 2 << 3);
        put_varint(&mut t, data_type);
        put_bytes(&mut t, 8, name.as_bytes());
        t
    }

    /// A graph with one weight-only quantised product, as the exporters write it.
    fn model(scale_dims: &[u64], extra_weight_use: bool) -> Vec<u8> {
        let mut graph = Vec::new();
        put_bytes(
            &mut graph,
            1,
            &encode_node("cast", "Cast", &["w_q"], &["w_c"], Some(FLOAT)),
        );
        put_bytes(
            &mut graph,
            1,
            &encode_node("mul", "Mul", &["w_c", "w_s"], &["w"], None),
        );
        put_bytes(
            &mut graph,
            1,
            &encode_node("mm", "MatMul", &["x", "w"], &["y"], None),
        );
        if extra_weight_use {
            put_bytes(
                &mut graph,
                1,
                &encode_node("peek", "Identity", &["w"], &["w2"], None),
            );
        }
        put_bytes(&mut graph, 2, b"g");
        put_bytes(&mut graph, 5, &tensor("w_q", INT8, &[4, 3]));
        put_bytes(&mut graph, 5, &tensor("w_s", FLOAT, scale_dims));
        let mut model = Vec::new();
        put_varint(&mut model, 1 << 3); // ir_version
        put_varint(&mut model, 8);
        put_bytes(&mut model, 7, &graph);
        put_bytes(&mut model, 14, b"opaque metadata kept as is");
        model
    }

    fn op_types(model: &[u8]) -> Vec<String> {
        let fields = parse_message(model).unwrap();
        let graph = fields.iter().find(|f| f.number == 7).unwrap();
        parse_message(graph.bytes().unwrap())
            .unwrap()
            .iter()
            .filter(|f| f.number == 1)
            .map(|f| parse_node(f.bytes().unwrap()).unwrap().op_type.to_string())
            .collect()
    }

    #[test]
    fn a_per_column_product_becomes_an_integer_product() {
        let rewritten = rewrite(&model(&[1, 3], false)).unwrap();
        assert_eq!(rewritten.products, 1);
        assert_eq!(
            op_types(&rewritten.model),
            [
                "DynamicQuantizeLinear",
                "MatMulInteger",
                "Cast",
                "Mul",
                "Mul"
            ]
        );
        let fields = parse_message(&rewritten.model).unwrap();
        assert!(fields
            .iter()
            .any(|f| f.number == 14 && f.bytes().unwrap() == b"opaque metadata kept as is"));
        let graph = fields.iter().find(|f| f.number == 7).unwrap();
        let last = parse_message(graph.bytes().unwrap())
            .unwrap()
            .into_iter()
            .rfind(|f| f.number == 1)
            .unwrap();
        let last = parse_node(last.bytes().unwrap()).unwrap();
        assert_eq!(last.outputs, ["y"], "the product's output name is kept");
        assert_eq!(last.inputs[1], "w_s");
    }

    #[test]
    fn products_that_cannot_be_rewritten_exactly_are_left_alone() {
        // A per-row scale cannot move past the product.
        for untouched in [model(&[4, 1], false), model(&[1, 3], true)] {
            let rewritten = rewrite(&untouched).unwrap();
            assert_eq!(rewritten.products, 0);
            assert_eq!(rewritten.model, untouched, "bytes unchanged");
        }
    }

    proptest::proptest! {
        /// Whatever the bytes, the rewrite answers without panicking, and a model it
        /// does not change comes back byte for byte.
        #[test]
        fn any_bytes_get_an_answer(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            if let Ok(rewritten) = rewrite(&bytes) {
                if rewritten.products == 0 {
                    proptest::prop_assert_eq!(rewritten.model, bytes);
                }
            }
        }

        /// Cutting a rewritable model anywhere never panics either.
        #[test]
        fn cut_models_get_an_answer(cut in 0usize..200) {
            let model = model(&[1, 3], false);
            let _ = rewrite(&model[..cut.min(model.len())]);
        }
    }

    #[test]
    fn malformed_bytes_are_refused() {
        let mut model = model(&[1, 3], false);
        model.truncate(model.len() - 5);
        assert!(rewrite(&model).is_err());
        assert!(rewrite(&[0x0f]).is_err(), "wire type 7");
    }
}
