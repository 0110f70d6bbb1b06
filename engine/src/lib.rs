pub mod content_type;
