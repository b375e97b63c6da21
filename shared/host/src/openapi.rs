//! The OpenAPI 3.1 document of the app, generated from the function declarations: every HTTP
//! function is an operation per method, with its path parameters, its security, and the JSON
//! Schemas of its body and query where the function declares them (derived from the Rust types
//! the handler deserialises, so the document cannot drift from the code).

use axum::http::Method;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use crate::registry::{FunctionDef, Trigger};

/// A JSON Schema for a type, produced through the document's generator (so that shared types
/// land once in `components/schemas`).
pub type SchemaFn = fn(&mut SchemaGenerator) -> schemars::Schema;

/// The schema of `T` for [`OperationDoc::body`] and [`OperationDoc::query`].
pub fn schema<T: schemars::JsonSchema>(generator: &mut SchemaGenerator) -> schemars::Schema {
    generator.subschema_for::<T>()
}

/// What the document says about one method of an HTTP function.
#[derive(Debug, Clone)]
pub struct OperationDoc {
    pub method: Method,
    pub summary: &'static str,
    /// Callable without a bearer token.
    pub public: bool,
    /// The JSON request body.
    pub body: Option<SchemaFn>,
    /// Whether the body may be left out.
    pub body_optional: bool,
    /// The query string, as an object whose properties are the parameters.
    pub query: Option<SchemaFn>,
    /// A raw (non-JSON) request body: its media types.
    pub raw_body: &'static [&'static str],
    /// The success status.
    pub success: u16,
    /// The success media type.
    pub produces: &'static str,
}

impl OperationDoc {
    pub fn new(method: Method, summary: &'static str) -> Self {
        Self {
            method,
            summary,
            public: false,
            body: None,
            body_optional: false,
            query: None,
            raw_body: &[],
            success: 200,
            produces: "application/json",
        }
    }
    pub fn get(summary: &'static str) -> Self {
        Self::new(Method::GET, summary)
    }
    pub fn post(summary: &'static str) -> Self {
        Self::new(Method::POST, summary)
    }
    pub fn put(summary: &'static str) -> Self {
        Self::new(Method::PUT, summary)
    }
    pub fn delete(summary: &'static str) -> Self {
        Self::new(Method::DELETE, summary)
    }
    pub fn public(mut self) -> Self {
        self.public = true;
        self
    }
    pub fn body(mut self, schema: SchemaFn) -> Self {
        self.body = Some(schema);
        self
    }
    pub fn optional_body(mut self, schema: SchemaFn) -> Self {
        self.body = Some(schema);
        self.body_optional = true;
        self
    }
    pub fn query(mut self, schema: SchemaFn) -> Self {
        self.query = Some(schema);
        self
    }
    pub fn raw_body(mut self, media_types: &'static [&'static str]) -> Self {
        self.raw_body = media_types;
        self
    }
    pub fn status(mut self, success: u16) -> Self {
        self.success = success;
        self
    }
    pub fn produces(mut self, media_type: &'static str) -> Self {
        self.produces = media_type;
        self
    }
}

/// `{name}` segments of a route, in order.
fn path_parameters(route: &str) -> Vec<&str> {
    route
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// Builds the document for `functions` (HTTP ones; the others are not part of the API).
pub fn document<S>(functions: &[FunctionDef<S>], title: &str, version: &str) -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|settings| {
            settings.definitions_path = "/components/schemas".into();
            settings.meta_schema = None;
        })
        .into_generator();
    let mut paths = Map::new();
    for function in functions {
        let Trigger::Http { route, methods } = &function.trigger else {
            continue;
        };
        let path = format!("/{}/{route}", crate::ROUTE_PREFIX);
        let parameters: Vec<Value> = path_parameters(route)
            .into_iter()
            .map(|name| {
                json!({
                    "name": name,
                    "in": "path",
                    "required": true,
                    "schema": { "type": "string", "minLength": 1 },
                })
            })
            .collect();
        let mut item = Map::new();
        for method in methods {
            let doc = function
                .docs
                .iter()
                .find(|doc| doc.method == *method)
                .cloned()
                .unwrap_or_else(|| OperationDoc::new(method.clone(), function.name));
            let mut operation = Map::new();
            operation.insert(
                "operationId".into(),
                json!(format!("{}{}", function.name, title_case(method.as_str()))),
            );
            operation.insert("summary".into(), json!(doc.summary));
            operation.insert("tags".into(), json!([tag_of(route)]));
            let mut all_parameters = parameters.clone();
            if let Some(query) = doc.query {
                let schema = generator.root_schema_for_query(query);
                all_parameters.extend(query_parameters(&schema));
            }
            if !all_parameters.is_empty() {
                operation.insert("parameters".into(), Value::Array(all_parameters));
            }
            if let Some(body) = doc.body {
                let schema = body(&mut generator).to_value();
                operation.insert(
                    "requestBody".into(),
                    json!({
                        "required": !doc.body_optional,
                        "content": { "application/json": { "schema": schema } },
                    }),
                );
            } else if !doc.raw_body.is_empty() {
                let content: Map<String, Value> = doc
                    .raw_body
                    .iter()
                    .map(|media| {
                        let schema = if media.starts_with("multipart/") {
                            json!({
                                "type": "object",
                                "properties": { "file": { "type": "string", "contentMediaType": "application/octet-stream" } },
                                "required": ["file"],
                            })
                        } else {
                            json!({ "type": "string", "contentMediaType": media })
                        };
                        ((*media).to_owned(), json!({ "schema": schema }))
                    })
                    .collect();
                operation.insert(
                    "requestBody".into(),
                    json!({ "required": true, "content": content }),
                );
            }
            let success = if doc.produces == "application/json" {
                json!({ "description": "success", "content": { "application/json": { "schema": {} } } })
            } else if doc.success == 204 {
                json!({ "description": "success, no content" })
            } else {
                json!({ "description": "success", "content": { doc.produces: { "schema": {} } } })
            };
            let error = json!({
                "description": "an error, in the error envelope",
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
            });
            let mut responses = Map::new();
            responses.insert(doc.success.to_string(), success);
            responses.insert("4XX".into(), error.clone());
            responses.insert("5XX".into(), error);
            operation.insert("responses".into(), Value::Object(responses));
            if doc.public {
                operation.insert("security".into(), json!([]));
            }
            item.insert(
                method.as_str().to_ascii_lowercase(),
                Value::Object(operation),
            );
        }
        paths.insert(path, Value::Object(item));
    }
    let mut schemas = generator.take_definitions(true);
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": { "code": { "type": "string" }, "message": { "type": "string" } },
                    "required": ["code", "message"],
                },
            },
            "required": ["error"],
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Visiobook: books into audiovisual experiences. Every route but the public ones needs `Authorization: Bearer <access token>` from /api/v1/auth/login.",
        },
        "servers": [{ "url": "/" }],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" },
            },
        },
        "security": [{ "bearer": [] }],
    })
}

trait QuerySchema {
    fn root_schema_for_query(&mut self, query: SchemaFn) -> Value;
}

impl QuerySchema for SchemaGenerator {
    /// The query type's schema, inlined (parameters cannot be `$ref`s to an object).
    fn root_schema_for_query(&mut self, query: SchemaFn) -> Value {
        let schema = query(self).to_value();
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference.rsplit('/').next().unwrap_or_default().to_owned();
                self.definitions_mut().get(&name).cloned().unwrap_or(schema)
            }
            None => schema,
        }
    }
}

fn query_parameters(schema: &Value) -> Vec<Value> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    schema["properties"]
        .as_object()
        .map(|properties| {
            properties
                .iter()
                .map(|(name, property)| {
                    json!({
                        "name": name,
                        "in": "query",
                        "required": required.contains(&name.as_str()),
                        "schema": property,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `v1/projects/{id}` is tagged `projects`; `health` is `platform`.
fn tag_of(route: &str) -> String {
    let mut segments = route.split('/');
    match (segments.next(), segments.next()) {
        (Some("v1"), Some(service)) => service.to_owned(),
        (Some(".well-known"), _) => "auth".to_owned(),
        _ => "platform".to_owned(),
    }
}

fn title_case(method: &str) -> String {
    let lower = method.to_ascii_lowercase();
    let mut chars = lower.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}
