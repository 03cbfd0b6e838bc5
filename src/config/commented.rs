//! `ringseed config`: the default configuration as a TOML file with every
//! key commented, the comments taken from the doc comments of [`Config`]'s
//! sections and fields (through their JSON schema).

use super::Config;

impl Config {
    /// The default configuration as TOML with every key commented from its
    /// doc comment (`ringseed config`). Parsing it gives [`Config::default`].
    pub fn commented_default() -> String {
        let schema = schemars::schema_for!(Config);
        let values = toml::Value::try_from(Config::default()).expect("serialisable");
        let mut out = String::from(
            "# ringseed configuration (TOML): `ringseed seed --config FILE`.\n\
             # Every key is optional; these are the defaults. Command-line flags\n\
             # override the file (`ringseed seed --help` names the key of each flag).\n",
        );
        let root = &schema.schema;
        let props = &root.object.as_ref().expect("object").properties;
        for (section, table) in values.as_table().expect("table") {
            let sec_schema = props.get(section).map(|s| s.clone().into_object());
            out.push('\n');
            if let Some(d) = sec_schema.as_ref().and_then(description) {
                push_comment(&mut out, &d);
            }
            out.push_str(&format!("[{section}]\n"));
            // The section's own struct schema is a definition behind a $ref.
            // (schemars puts the $ref of a documented field under `allOf`.)
            let def = sec_schema
                .as_ref()
                .and_then(|s| {
                    s.reference.clone().or_else(|| {
                        s.subschemas
                            .as_ref()?
                            .all_of
                            .as_ref()?
                            .iter()
                            .find_map(|x| x.clone().into_object().reference)
                    })
                })
                .as_deref()
                .and_then(|r| r.rsplit('/').next())
                .and_then(|name| schema.definitions.get(name))
                .map(|s| s.clone().into_object());
            let fields = def.as_ref().and_then(|d| d.object.as_ref());
            for (key, value) in table.as_table().expect("section table") {
                if let Some(d) = fields
                    .and_then(|f| f.properties.get(key))
                    .map(|s| s.clone().into_object())
                    .as_ref()
                    .and_then(description)
                {
                    push_comment(&mut out, &d);
                }
                out.push_str(&format!("{key} = {value}\n"));
            }
        }
        out
    }
}

fn description(s: &schemars::schema::SchemaObject) -> Option<String> {
    s.metadata.as_ref().and_then(|m| m.description.clone())
}

/// Writes `text` as `# ` comment lines wrapped at 78 columns.
fn push_comment(out: &mut String, text: &str) {
    for para in text.lines() {
        let mut line = String::from("#");
        for word in para.split_whitespace() {
            if line.len() > 1 && line.len() + 1 + word.len() > 78 {
                out.push_str(&line);
                out.push('\n');
                line = String::from("#");
            }
            line.push(' ');
            line.push_str(word);
        }
        out.push_str(&line);
        out.push('\n');
    }
}
