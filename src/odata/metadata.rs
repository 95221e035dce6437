//! Reading the upstream's `$metadata` (CSDL XML): the OData version it
//! declares and, per entity set, its properties and navigation properties.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Default, Clone, PartialEq)]
pub struct EntitySetInfo {
    pub properties: HashSet<String>,
    /// Properties of an integer type (`Edm.Int32` …): a literal with a
    /// fraction is refused there, whatever the model says of the column.
    pub integers: HashSet<String>,
    pub navigation: HashSet<String>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Metadata {
    /// `Version` of `edmx:Edmx`, e.g. "4.0" or "4.01".
    pub version: String,
    pub entity_sets: HashMap<String, EntitySetInfo>,
}

impl Metadata {
    /// OData 4.01 introduced the `in` operator.
    pub fn supports_in(&self) -> bool {
        self.version
            .split_once('.')
            .and_then(|(major, minor)| {
                Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?))
            })
            .is_some_and(|(major, minor)| major > 4 || (major == 4 && minor >= 1))
    }

    /// Whether the entity set declares this property. Unknown sets say yes:
    /// metadata that omits a set tells nothing about it.
    pub fn has_property(&self, entity_set: &str, property: &str) -> bool {
        self.entity_sets
            .get(entity_set)
            .is_none_or(|set| set.properties.contains(property))
    }

    /// The properties of an entity set the upstream declares as integers
    /// (none when the set is unknown).
    pub fn integers(&self, entity_set: &str) -> Option<&HashSet<String>> {
        self.entity_sets.get(entity_set).map(|set| &set.integers)
    }

    pub fn parse(xml: &str) -> Result<Metadata, String> {
        let mut reader = Reader::from_str(xml);
        let mut version = String::new();
        let mut types: HashMap<String, EntitySetInfo> = HashMap::new();
        let mut sets: Vec<(String, String)> = Vec::new();
        let mut current_type: Option<String> = None;
        loop {
            let event = reader
                .read_event()
                .map_err(|e| format!("invalid $metadata XML: {e}"))?;
            match event {
                Event::Start(ref tag) | Event::Empty(ref tag) => {
                    let is_start = matches!(event, Event::Start(_));
                    match tag.local_name().as_ref() {
                        b"Edmx" => version = attr(tag, b"Version").unwrap_or_default(),
                        b"EntityType" => {
                            let name = attr(tag, b"Name").unwrap_or_default();
                            types.entry(name.clone()).or_default();
                            current_type = is_start.then_some(name);
                        }
                        b"Property" | b"NavigationProperty" => {
                            if let (Some(ty), Some(name)) = (&current_type, attr(tag, b"Name")) {
                                let info = types.entry(ty.clone()).or_default();
                                if tag.local_name().as_ref() == b"Property" {
                                    if attr(tag, b"Type").is_some_and(|t| is_integer(&t)) {
                                        info.integers.insert(name.clone());
                                    }
                                    info.properties.insert(name);
                                } else {
                                    info.navigation.insert(name);
                                }
                            }
                        }
                        b"EntitySet" => {
                            if let (Some(name), Some(ty)) =
                                (attr(tag, b"Name"), attr(tag, b"EntityType"))
                            {
                                let short = ty.rsplit('.').next().unwrap_or(&ty).to_string();
                                sets.push((name, short));
                            }
                        }
                        _ => {}
                    }
                }
                Event::End(ref tag) if tag.local_name().as_ref() == b"EntityType" => {
                    current_type = None;
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if version.is_empty() {
            return Err("$metadata has no edmx:Edmx Version".into());
        }
        let entity_sets = sets
            .into_iter()
            .filter_map(|(set, ty)| types.get(&ty).map(|info| (set, info.clone())))
            .collect();
        Ok(Metadata {
            version,
            entity_sets,
        })
    }
}

fn is_integer(edm_type: &str) -> bool {
    matches!(
        edm_type,
        "Edm.Byte" | "Edm.SByte" | "Edm.Int16" | "Edm.Int32" | "Edm.Int64"
    )
}

fn attr(tag: &BytesStart, name: &[u8]) -> Option<String> {
    tag.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="V11" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityContainer Name="EntityContainer">
        <EntitySet Name="Conversation" EntityType="V11.Conversation"/>
      </EntityContainer>
      <EntityType Name="Conversation">
        <Key><PropertyRef Name="id"/></Key>
        <Property Name="id" Type="Edm.Int32" Nullable="false"/>
        <Property Name="status" Type="Edm.Int32"/>
        <Property Name="value" Type="Edm.Double"/>
        <NavigationProperty Name="inbox" Type="V11.Inbox"/>
      </EntityType>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>"#;

    #[test]
    fn reads_version_properties_and_navigation() {
        let md = Metadata::parse(SAMPLE).unwrap_or_default();
        assert_eq!(md.version, "4.0");
        assert!(!md.supports_in());
        let conv = &md.entity_sets["Conversation"];
        assert!(conv.properties.contains("status"));
        assert!(conv.navigation.contains("inbox"));
        assert!(md.has_property("Conversation", "id"));
        assert!(!md.has_property("Conversation", "campaign_id"));
        let integers = md.integers("Conversation").cloned().unwrap_or_default();
        assert!(integers.contains("status") && !integers.contains("value"));
    }

    #[test]
    fn version_4_01_supports_in() {
        let md = Metadata::parse(&SAMPLE.replace("Version=\"4.0\"", "Version=\"4.01\""))
            .unwrap_or_default();
        assert!(md.supports_in());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(Metadata::parse("<html>").is_err());
    }
}
