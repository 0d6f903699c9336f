//! Garonne realtime: places every reading in its neighbourhood polygon and keeps windowed
//! statistics per neighbourhood, republished over MQTT.
//!
//! Not built yet: see issue 4. This crate exists so that the workspace has its final shape.
