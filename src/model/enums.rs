//! Numeric enumerations of the Live Agent docs, as GraphQL enums.

#[derive(Debug, PartialEq, Eq)]
pub struct EnumDef {
    pub name: &'static str,
    pub description: &'static str,
    /// (GraphQL name, upstream number)
    pub values: &'static [(&'static str, i64)],
}

impl EnumDef {
    pub fn name_of(&self, number: i64) -> Option<&'static str> {
        self.values
            .iter()
            .find(|(_, n)| *n == number)
            .map(|(name, _)| *name)
    }
    pub fn number_of(&self, name: &str) -> Option<i64> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

pub static CONVERSATION_STATUS: EnumDef = EnumDef {
    name: "ConversationStatus",
    description: "Conversation status (upstream numbers 0..3).",
    values: &[("OPEN", 0), ("RESOLVED", 1), ("PENDING", 2), ("SNOOZED", 3)],
};

pub static MESSAGE_TYPE: EnumDef = EnumDef {
    name: "MessageType",
    description: "Direction or kind of a message (upstream numbers 0..3).",
    values: &[
        ("INCOMING", 0),
        ("OUTGOING", 1),
        ("ACTIVITY", 2),
        ("TEMPLATE", 3),
    ],
};

pub static MESSAGE_STATUS: EnumDef = EnumDef {
    name: "MessageStatus",
    description: "Delivery status of a message (upstream numbers 0..3).",
    values: &[("SENT", 0), ("DELIVERED", 1), ("READ", 2), ("FAILED", 3)],
};

pub static MESSAGE_CONTENT_TYPE: EnumDef = EnumDef {
    name: "MessageContentType",
    description: "Content type of a message (upstream numbers 0..9, 2016, 2017).",
    values: &[
        ("TEXT", 0),
        ("INPUT_TEXT", 1),
        ("INPUT_TEXTAREA", 2),
        ("INPUT_EMAIL", 3),
        ("INPUT_SELECT", 4),
        ("CARDS", 5),
        ("FORM", 6),
        ("ARTICLE", 7),
        ("INCOMING_EMAIL", 8),
        ("INPUT_CSAT", 9),
        ("TYPES_COGNIGY", 2016),
        ("REQUEST_FILE_UPLOAD", 2017),
    ],
};

pub static ALL_ENUMS: &[&EnumDef] = &[
    &CONVERSATION_STATUS,
    &MESSAGE_TYPE,
    &MESSAGE_STATUS,
    &MESSAGE_CONTENT_TYPE,
];
