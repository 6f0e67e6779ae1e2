//! Where each entity and each of its fields was declared ([`Located`],
//! [`Locations`]), recorded while parsing and used to put later findings on a line.

use std::collections::BTreeMap;
use std::fmt;

use crate::okr::model::EntityKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    pub line: usize,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Where each entity was declared, for messages from later checks.
///
/// Entities are kept per kind in the order of the [`OkrSet`](crate::okr::model::OkrSet) lists they were
/// parsed into, so `index` in [`Locations::at`] is the index in that list
/// (and [`Finding::index`](crate::okr::validate::Finding::index)). Fields of a KR's source are named `source.use`,
/// `source.schedule` and `source.params`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Locations {
    kinds: BTreeMap<EntityKind, Vec<EntityLocation>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct EntityLocation {
    pub(super) id: String,
    pub(super) at: Located,
    pub(super) fields: BTreeMap<String, Located>,
}

impl Locations {
    /// Where the first entity with this id was declared.
    pub fn of(&self, kind: EntityKind, id: &str) -> Option<&Located> {
        self.first(kind, id).map(|e| &e.at)
    }

    /// Where a field of the first entity with this id was set.
    pub fn field(&self, kind: EntityKind, id: &str, field: &str) -> Option<&Located> {
        self.first(kind, id).and_then(|e| e.fields.get(field))
    }

    /// Where the entity at `index` of its kind's list was declared.
    pub fn at(&self, kind: EntityKind, index: usize) -> Option<&Located> {
        self.entry(kind, index).map(|e| &e.at)
    }

    /// Where a field of the entity at `index` was set.
    pub fn field_at(&self, kind: EntityKind, index: usize, field: &str) -> Option<&Located> {
        self.entry(kind, index).and_then(|e| e.fields.get(field))
    }

    /// Appends another file's locations, as its entities are appended to the set.
    pub fn extend(&mut self, other: Locations) {
        for (kind, list) in other.kinds {
            self.kinds.entry(kind).or_default().extend(list);
        }
    }

    fn first(&self, kind: EntityKind, id: &str) -> Option<&EntityLocation> {
        self.kinds.get(&kind)?.iter().find(|e| e.id == id)
    }

    fn entry(&self, kind: EntityKind, index: usize) -> Option<&EntityLocation> {
        self.kinds.get(&kind)?.get(index)
    }

    pub(super) fn push(&mut self, kind: EntityKind, entity: EntityLocation) {
        self.kinds.entry(kind).or_default().push(entity);
    }
}
