//! The test bed of pgconverge, kept out of the product binary: the fact catalogues of the real Alkemio and Kratos
//! schemas (`facts`), the fixture schemas rendered from them (`fixtures`), a deterministic, production-shaped data
//! generator (`gen`), and a live writer that goes on committing while a test reads the source (`writer`).

pub mod facts;
pub mod fixtures;
pub mod gen;
pub mod writer;
