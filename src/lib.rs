//! pgconverge library: schema facts, fixtures, data generation and the migration pipeline.
