//! The API reference (`docs/api.md`), generated from the comments in `proto/` via the file
//! descriptor set the build embeds (with source info). A test keeps the committed file current:
//! `VAWG_UPDATE_API_DOC=1 cargo test -p vawg-proto apidoc` rewrites it.

use std::{collections::BTreeMap, fmt::Write};

use prost::Message;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorSet,
    field_descriptor_proto::{Label, Type},
};

/// Comments by source path within one file.
struct Comments(BTreeMap<Vec<i32>, String>);

impl Comments {
    fn at(&self, path: &[i32]) -> String {
        self.0
            .get(path)
            .map(|c| {
                c.trim()
                    .replace('\n', " ")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    }
}

fn type_name(f: &FieldDescriptorProto) -> String {
    let base = match f.r#type() {
        Type::Message | Type::Enum => f
            .type_name()
            .trim_start_matches('.')
            .trim_start_matches("vawg.v1.")
            .to_string(),
        Type::Double => "double".into(),
        Type::Float => "float".into(),
        Type::Int64 => "int64".into(),
        Type::Uint64 => "uint64".into(),
        Type::Int32 => "int32".into(),
        Type::Fixed64 => "fixed64".into(),
        Type::Fixed32 => "fixed32".into(),
        Type::Bool => "bool".into(),
        Type::String => "string".into(),
        Type::Group => "group".into(),
        Type::Bytes => "bytes".into(),
        Type::Uint32 => "uint32".into(),
        Type::Sfixed32 => "sfixed32".into(),
        Type::Sfixed64 => "sfixed64".into(),
        Type::Sint32 => "sint32".into(),
        Type::Sint64 => "sint64".into(),
    };
    if f.label() == Label::Repeated {
        format!("repeated {base}")
    } else if f.proto3_optional() {
        format!("optional {base}")
    } else {
        base
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn message(out: &mut String, m: &DescriptorProto, prefix: &str, path: Vec<i32>, c: &Comments) {
    let name = format!("{prefix}{}", m.name());
    let _ = writeln!(out, "### {name}\n");
    let doc = c.at(&path);
    if !doc.is_empty() {
        let _ = writeln!(out, "{doc}\n");
    }
    if !m.field.is_empty() {
        let _ = writeln!(
            out,
            "| Field | Number | Type | Description |\n|---|---|---|---|"
        );
        for (i, f) in m.field.iter().enumerate() {
            let mut p = path.clone();
            p.extend([2, i as i32]);
            let oneof = f
                .oneof_index
                .filter(|_| !f.proto3_optional())
                .and_then(|o| m.oneof_decl.get(o as usize))
                .map(|o| format!(" (oneof `{}`)", o.name()))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| `{}` | {} | `{}` | {}{} |",
                f.name(),
                f.number(),
                type_name(f),
                cell(&c.at(&p)),
                oneof
            );
        }
        out.push('\n');
    }
    for (i, e) in m.enum_type.iter().enumerate() {
        let mut p = path.clone();
        p.extend([4, i as i32]);
        enumeration(out, e, &format!("{name}."), p, c);
    }
    for (i, n) in m.nested_type.iter().enumerate() {
        let mut p = path.clone();
        p.extend([3, i as i32]);
        message(out, n, &format!("{name}."), p, c);
    }
}

fn enumeration(
    out: &mut String,
    e: &EnumDescriptorProto,
    prefix: &str,
    path: Vec<i32>,
    c: &Comments,
) {
    let _ = writeln!(out, "### {prefix}{}\n", e.name());
    let doc = c.at(&path);
    if !doc.is_empty() {
        let _ = writeln!(out, "{doc}\n");
    }
    let _ = writeln!(out, "| Value | Number | Description |\n|---|---|---|");
    for (i, v) in e.value.iter().enumerate() {
        let mut p = path.clone();
        p.extend([2, i as i32]);
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            v.name(),
            v.number(),
            cell(&c.at(&p))
        );
    }
    out.push('\n');
}

/// Renders the reference for every `vawg/v1` file in an encoded file descriptor set.
pub fn render(encoded: &[u8]) -> Result<String, prost::DecodeError> {
    let set = FileDescriptorSet::decode(encoded)?;
    let mut out = String::from(
        "# vawg.v1 API reference\n\n\
         Generated from the comments in [`proto/vawg/v1`](../proto/vawg/v1) by `crates/proto/src/apidoc.rs`; do not \
         edit by hand (`VAWG_UPDATE_API_DOC=1 cargo test -p vawg-proto apidoc` regenerates it, and CI \
         fails when it is stale). Package `vawg.v1` only grows: fields and values are added, never \
         renumbered or removed; a breaking change means a `vawg.v2` package served side by side.\n\n",
    );
    let files: Vec<_> = set
        .file
        .iter()
        .filter(|f| f.name().starts_with("vawg/v1/"))
        .collect();
    let _ = writeln!(out, "## Services\n");
    for f in &files {
        let c = comments(f);
        for (i, s) in f.service.iter().enumerate() {
            let _ = writeln!(out, "### {} (`{}`)\n", s.name(), f.name());
            let doc = c.at(&[6, i as i32]);
            if !doc.is_empty() {
                let _ = writeln!(out, "{doc}\n");
            }
            let _ = writeln!(
                out,
                "| RPC | Request | Response | Description |\n|---|---|---|---|"
            );
            for (j, m) in s.method.iter().enumerate() {
                let stream = |yes: bool| if yes { "stream " } else { "" };
                let _ = writeln!(
                    out,
                    "| `{}` | `{}{}` | `{}{}` | {} |",
                    m.name(),
                    stream(m.client_streaming()),
                    m.input_type().trim_start_matches(".vawg.v1."),
                    stream(m.server_streaming()),
                    m.output_type().trim_start_matches(".vawg.v1."),
                    cell(&c.at(&[6, i as i32, 2, j as i32]))
                );
            }
            out.push('\n');
        }
    }
    errors(&mut out);
    for f in &files {
        let c = comments(f);
        let _ = writeln!(out, "## `{}`\n", f.name());
        let doc = c.at(&[12]);
        if !doc.is_empty() {
            let _ = writeln!(out, "{doc}\n");
        }
        for (i, m) in f.message_type.iter().enumerate() {
            message(&mut out, m, "", vec![4, i as i32], &c);
        }
        for (i, e) in f.enum_type.iter().enumerate() {
            enumeration(&mut out, e, "", vec![5, i as i32], &c);
        }
    }
    Ok(out)
}

/// The one error table (`crate::error`), so clients can write one retry policy.
fn errors(out: &mut String) {
    let _ = writeln!(
        out,
        "## Errors and retries\n\n\
         Every service classifies its failures into one set of kinds, and one table \
         (`crates/proto/src/error.rs`) turns a kind into a gRPC status code, so the same fault \
         gives the same code on every RPC: a full disk is `RESOURCE_EXHAUSTED`, a unique-key \
         clash `ALREADY_EXISTS`, something not held `NOT_FOUND`, a lost database connection \
         `UNAVAILABLE`, wherever they happen. Per-record problems in a submission are not errors: \
         they are per-record results (`REJECTED` with field violations). `INVALID_ARGUMENT` \
         carries `google.rpc.BadRequest` details naming each field. `INTERNAL` carries a fixed \
         message; the cause is only in the hub's log. Retrying a submission is always safe: \
         ingest is idempotent on (agency, source record id, revision).\n"
    );
    out.push_str(&crate::error::table_markdown());
    out.push('\n');
}

fn comments(f: &prost_types::FileDescriptorProto) -> Comments {
    let mut map = BTreeMap::new();
    if let Some(info) = &f.source_code_info {
        for l in &info.location {
            // Path [12] is the `package` statement: its leading comment describes the file.
            let text = l.leading_comments().to_string();
            let text = if text.trim().is_empty() && l.path == [12] {
                l.leading_detached_comments.join("\n")
            } else {
                text
            };
            if !text.trim().is_empty() {
                map.insert(l.path.clone(), text);
            }
        }
    }
    Comments(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apidoc_is_current() {
        let rendered =
            render(crate::pb::FILE_DESCRIPTOR_SET).expect("the embedded descriptor set decodes");
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md");
        if std::env::var_os("VAWG_UPDATE_API_DOC").is_some() {
            std::fs::write(path, &rendered).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == rendered,
            "docs/api.md is stale: run `VAWG_UPDATE_API_DOC=1 cargo test -p vawg-proto apidoc` and commit it"
        );
    }

    #[test]
    fn every_rpc_field_and_value_is_documented() {
        let rendered = render(crate::pb::FILE_DESCRIPTOR_SET).unwrap();
        for line in rendered.lines().filter(|l| l.starts_with("| `")) {
            let description = line
                .trim_end_matches(" |")
                .rsplit(" | ")
                .next()
                .unwrap_or("");
            assert!(
                !description.trim().is_empty() && !description.starts_with('`'),
                "undocumented: {line}"
            );
        }
        for service in [
            "DefinitionService",
            "IngestService",
            "MetricsService",
            "ExchangeService",
            "FirewallService",
        ] {
            assert!(rendered.contains(&format!("### {service}")), "{service}");
        }
    }
}
