//! Tool discovery: which SWAIG functions the gateway's tools become.

use mcp_gateway_client::{GatewayClient, GatewayError, Tool};
use serde_json::Value;

use crate::log;
use crate::naming::{Collision, NameTable};
use crate::params::{ServiceSelection, SkillConfig, ToolFilter};
use crate::schema;

/// One MCP tool as a SWAIG function.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    /// The SWAIG function name.
    pub name: String,
    pub service: String,
    pub tool: String,
    /// `[service] description`.
    pub description: String,
    /// SWAIG `parameters` (JSON Schema object) built from the tool's `inputSchema`.
    pub parameters: Value,
}

/// What the prompt says about a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSummary {
    pub name: String,
    /// Functions registered for it.
    pub tool_count: usize,
    /// Configured with `tools: "*"` (or not configured at all).
    pub all_tools: bool,
}

/// Everything discovery produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Catalog {
    pub functions: Vec<FunctionSpec>,
    pub services: Vec<ServiceSummary>,
}

impl Catalog {
    pub fn function(&self, name: &str) -> Option<&FunctionSpec> {
        self.functions.iter().find(|f| f.name == name)
    }

    pub fn find(&self, service: &str, tool: &str) -> Option<&FunctionSpec> {
        self.functions
            .iter()
            .find(|f| f.service == service && f.tool == tool)
    }
}

/// Why discovery did not produce a catalog.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The gateway could not be used right now; discovery is retried later.
    #[error("gateway not reachable: {0}")]
    Unreachable(#[source] GatewayError),
    /// Wrong credentials: retrying will not help.
    #[error("gateway rejected the credentials: {0}")]
    Unauthorized(#[source] GatewayError),
    #[error(transparent)]
    Collision(#[from] Collision),
}

/// Ask the gateway for its services and tools and build the catalog.
pub async fn discover(
    client: &GatewayClient,
    config: &SkillConfig,
    reserved: &[&str],
) -> Result<Catalog, DiscoveryError> {
    let classify = |err: GatewayError| match err {
        GatewayError::Unauthorized { .. } => DiscoveryError::Unauthorized(err),
        other => DiscoveryError::Unreachable(other),
    };
    let selections: Vec<ServiceSelection> = if config.services.is_empty() {
        let listed = client.services().await.map_err(classify)?;
        listed
            .into_iter()
            .filter(|(name, info)| {
                if !info.enabled {
                    log().info(&format!("mcp_gateway: service {name} is disabled; skipped"));
                }
                info.enabled
            })
            .map(|(name, _)| ServiceSelection {
                name,
                tools: ToolFilter::All,
            })
            .collect()
    } else {
        config.services.clone()
    };

    let mut listed = Vec::with_capacity(selections.len());
    for selection in selections {
        match client.tools(&selection.name).await {
            Ok(list) => listed.push((selection, list.tools)),
            Err(GatewayError::NotFound { .. }) => log().error(&format!(
                "mcp_gateway: the gateway has no service named {:?}; its tools are not offered",
                selection.name
            )),
            Err(err) => return Err(classify(err)),
        }
    }
    Ok(build(&config.tool_prefix, listed, reserved)?)
}

/// Build the catalog from listed tools (pure). Tools are kept in the gateway's order,
/// services in configuration (or name) order.
pub fn build(
    prefix: &str,
    listed: Vec<(ServiceSelection, Vec<Tool>)>,
    reserved: &[&str],
) -> Result<Catalog, Collision> {
    let mut names = NameTable::with_reserved(reserved);
    let mut catalog = Catalog::default();
    for (selection, tools) in listed {
        let service = selection.name;
        if let ToolFilter::Only(wanted) = &selection.tools {
            for missing in wanted
                .iter()
                .filter(|w| !tools.iter().any(|t| &t.name == *w))
            {
                log().warn(&format!(
                    "mcp_gateway: service {service} has no tool named {missing:?}; ignored"
                ));
            }
        }
        let mut count = 0;
        for tool in tools.iter().filter(|t| selection.tools.allows(&t.name)) {
            let name = names.claim(prefix, &service, &tool.name)?;
            let converted = schema::convert(&tool.input_schema);
            let mut description = format!(
                "[{service}] {}",
                tool.description
                    .as_deref()
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .unwrap_or(&tool.name)
            );
            if let Some(note) = converted.note {
                description.push(' ');
                description.push_str(&note);
            }
            catalog.functions.push(FunctionSpec {
                name,
                service: service.clone(),
                tool: tool.name.clone(),
                description,
                parameters: converted.parameters,
            });
            count += 1;
        }
        catalog.services.push(ServiceSummary {
            name: service,
            tool_count: count,
            all_tools: selection.tools == ToolFilter::All,
        });
    }
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(name: &str, description: Option<&str>) -> Tool {
        serde_json::from_value(json!({
            "name": name, "description": description,
            "inputSchema": {"type": "object", "properties": {"x": {"type": "string"}},
                            "required": ["x"]}
        }))
        .unwrap()
    }

    fn select(name: &str, tools: ToolFilter) -> ServiceSelection {
        ServiceSelection {
            name: name.into(),
            tools,
        }
    }

    #[test]
    fn filters_names_and_describes() {
        let catalog = build(
            "mcp_",
            vec![
                (
                    select(
                        "todo",
                        ToolFilter::Only(vec!["add_todo".into(), "nope".into()]),
                    ),
                    vec![tool("add_todo", Some("Add a todo")), tool("clear", None)],
                ),
                (select("calc", ToolFilter::All), vec![tool("add", None)]),
            ],
            &[],
        )
        .unwrap();
        let names: Vec<&str> = catalog.functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["mcp_todo_add_todo", "mcp_calc_add"]);
        assert_eq!(catalog.functions[0].description, "[todo] Add a todo");
        assert_eq!(catalog.functions[1].description, "[calc] add");
        assert_eq!(
            catalog.functions[0].parameters,
            json!({"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]})
        );
        assert_eq!(
            catalog.services,
            vec![
                ServiceSummary {
                    name: "todo".into(),
                    tool_count: 1,
                    all_tools: false
                },
                ServiceSummary {
                    name: "calc".into(),
                    tool_count: 1,
                    all_tools: true
                },
            ]
        );
        assert_eq!(
            catalog.find("todo", "add_todo").unwrap().name,
            "mcp_todo_add_todo"
        );
    }

    #[test]
    fn a_collision_is_an_error_naming_both_tools() {
        let err = build(
            "mcp_",
            vec![(
                select("files", ToolFilter::All),
                vec![tool("read.file", None), tool("read_file", None)],
            )],
            &[],
        )
        .unwrap_err();
        assert_eq!(err.first, "files.read.file");
        assert_eq!(err.second, "files.read_file");
    }
}
