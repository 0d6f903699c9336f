//! The device agent: Raspberry Pi sensors publishing Garonne readings (being moved here; see issue 12).
