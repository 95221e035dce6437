//! What the model is made of: endpoint versions, field types, fields and
//! entities, and how their names read in GraphQL.

use super::enums::EnumDef;

/// The upstream endpoint version (`/v1.0/odata` or `/v1.1/odata`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    V1_0,
    V1_1,
}

impl ApiVersion {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim_start_matches('v') {
            "1.0" | "1" => Some(Self::V1_0),
            "1.1" => Some(Self::V1_1),
            _ => None,
        }
    }

    /// Reads the version from an upstream URL path such as `/v1.1/odata`.
    pub fn from_url_path(path: &str) -> Option<Self> {
        path.split('/').find_map(|seg| match seg {
            "v1.0" => Some(Self::V1_0),
            "v1.1" => Some(Self::V1_1),
            _ => None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_0 => "1.0",
            Self::V1_1 => "1.1",
        }
    }
}

/// Which document lists a field for one endpoint version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    /// Not documented for this version: absent from that version's schema.
    Absent,
    /// In the current documentation: requested whenever selected.
    Current,
    /// Only in the older v1.0 documentation: shown, but requested only when
    /// the upstream's `$metadata` declares it (real servers differ).
    Older,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Int,
    Float,
    String,
    Boolean,
    DateTime,
    Json,
    Enum(&'static EnumDef),
    IntList,
}

impl FieldType {
    /// Whether `$filter` and `$orderby` can use a column of this type.
    pub fn is_comparable(self) -> bool {
        !matches!(self, FieldType::Json | FieldType::IntList)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Column name upstream (snake_case); the GraphQL name is its camelCase.
    pub odata: &'static str,
    pub ty: FieldType,
    pub description: &'static str,
    pub v1_0: Doc,
    pub v1_1: Doc,
    /// Personal data hidden unless the config exposes it (sign-in IPs).
    pub sensitive: bool,
    /// Aggregates may group by it and count its distinct values.
    pub groupable: bool,
    /// A quantity: aggregates give its sum, average, minimum and maximum
    /// (ids are numbers but not quantities).
    pub measure: bool,
}

impl Field {
    pub const fn new(odata: &'static str, ty: FieldType, description: &'static str) -> Self {
        Field {
            odata,
            ty,
            description,
            v1_0: Doc::Current,
            v1_1: Doc::Current,
            sensitive: false,
            groupable: false,
            measure: false,
        }
    }
    /// Documented for 1.0 only.
    pub const fn v1_0_only(mut self) -> Self {
        self.v1_1 = Doc::Absent;
        self
    }
    /// In 1.0 only the older documentation lists it.
    pub const fn older_v1_0(mut self) -> Self {
        self.v1_0 = Doc::Older;
        self
    }
    pub const fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    pub const fn groupable(mut self) -> Self {
        self.groupable = true;
        self
    }
    pub const fn measure(mut self) -> Self {
        self.measure = true;
        self
    }

    pub fn doc(&self, version: ApiVersion) -> Doc {
        match version {
            ApiVersion::V1_0 => self.v1_0,
            ApiVersion::V1_1 => self.v1_1,
        }
    }

    pub fn graphql_name(&self) -> String {
        camel_case(self.odata)
    }
}

#[derive(Debug)]
pub struct Entity {
    /// OData entity set and GraphQL type name.
    pub name: &'static str,
    /// Root list field (`conversations`); the single lookup is `lower_first(name)`.
    pub plural: &'static str,
    pub description: &'static str,
    pub fields: &'static [Field],
}

/// Upstream columns that must never reach GraphQL nor be requested upstream.
pub const SECRET_COLUMNS: &[&str] = &[
    "encrypted_password",
    "reset_password_token",
    "confirmation_token",
    "tokens",
    "pubsub_token",
];

pub const KEY: &str = "id";

impl Entity {
    pub fn singular(&self) -> String {
        let mut chars = self.name.chars();
        match chars.next() {
            Some(c) => c.to_lowercase().chain(chars).collect(),
            None => String::new(),
        }
    }

    /// The fields of one endpoint version, less the sensitive ones unless shown.
    pub fn fields_for(
        &self,
        version: ApiVersion,
        show_sensitive: bool,
    ) -> impl Iterator<Item = &'static Field> + '_ {
        self.fields
            .iter()
            .filter(move |f| f.doc(version) != Doc::Absent && (show_sensitive || !f.sensitive))
    }

    pub fn field(&self, odata: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.odata == odata)
    }
}

/// `created_at` → `createdAt`.
pub fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}
