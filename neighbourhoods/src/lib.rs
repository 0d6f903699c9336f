//! Neighbourhood polygons (being written).
