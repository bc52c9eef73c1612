//! Widgets of our own.

pub mod qr;
