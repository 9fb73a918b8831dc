//! The test bed of pgconverge, kept out of the product binary: the fact catalogues of the real Alkemio and Kratos
//! schemas (`facts`), the fixture schemas rendered from them (`fixtures`), and a deterministic,
//! production-shaped data generator (`gen`).

pub mod facts;
pub mod fixtures;
pub mod gen;
