//! The todo list, with the same texts and errors as the upstream gateway's `todo_mcp.py` test
//! server (SignalWire `mcp_gateway/test/todo_mcp.py`). Errors become JSON-RPC `-32603`.

use serde_json::{Map, Value};

type Args = Map<String, Value>;

#[derive(Debug, Clone, PartialEq)]
struct Todo {
    id: u64,
    text: String,
    priority: String,
    completed: bool,
}

#[derive(Debug)]
pub struct TodoList {
    items: Vec<Todo>,
    next_id: u64,
}

impl Default for TodoList {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            next_id: 1,
        }
    }
}

/// Python's `str()` of a JSON value as upstream formats it: strings bare, others as JSON.
fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Python truthiness, as upstream's `if not x` checks use it.
fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

impl TodoList {
    /// `Added todo #<id>: <text> (priority: <priority>)`.
    pub fn add(&mut self, args: &Args) -> Result<String, String> {
        let text = args.get("text");
        if !truthy(text) {
            return Err("Text is required".into());
        }
        let text = text.map(display).unwrap_or_default();
        let priority = args
            .get("priority")
            .map_or_else(|| "medium".to_owned(), display);
        let id = self.next_id;
        self.next_id += 1;
        let reply = format!("Added todo #{id}: {text} (priority: {priority})");
        self.items.push(Todo {
            id,
            text,
            priority,
            completed: false,
        });
        Ok(reply)
    }

    /// `Todo List (<status>):` then one `○ #<id> [<priority>] <text>` line per item (`✓` when
    /// completed); `No <status> todos found` when nothing matches.
    pub fn list(&self, args: &Args) -> String {
        let status = args.get("status").map_or_else(|| "all".to_owned(), display);
        let matches = |todo: &&Todo| match status.as_str() {
            "all" => true,
            "completed" => todo.completed,
            "pending" => !todo.completed,
            _ => false,
        };
        let mut lines = vec![format!("Todo List ({status}):")];
        for todo in self.items.iter().filter(matches) {
            let icon = if todo.completed { "✓" } else { "○" };
            lines.push(format!(
                "{icon} #{} [{}] {}",
                todo.id, todo.priority, todo.text
            ));
        }
        if lines.len() == 1 {
            return format!("No {status} todos found");
        }
        lines.join("\n")
    }

    pub fn complete(&mut self, args: &Args) -> Result<String, String> {
        let (index, shown) = self.find(args)?;
        let todo = &mut self.items[index];
        if todo.completed {
            return Ok(format!("Todo #{shown} is already completed"));
        }
        todo.completed = true;
        Ok(format!("Completed todo #{shown}: {}", todo.text))
    }

    pub fn delete(&mut self, args: &Args) -> Result<String, String> {
        let (index, shown) = self.find(args)?;
        let todo = self.items.remove(index);
        Ok(format!("Deleted todo #{shown}: {}", todo.text))
    }

    /// Empties the list and restarts ids at 1.
    pub fn clear(&mut self) -> String {
        let count = self.items.len();
        self.items.clear();
        self.next_id = 1;
        format!("Cleared {count} todo(s)")
    }

    /// The index of the item `args.id` names, and the id as upstream prints it.
    fn find(&self, args: &Args) -> Result<(usize, String), String> {
        let id = args.get("id");
        if !truthy(id) {
            return Err("ID is required".into());
        }
        let id = id.expect("truthy implies present");
        let wanted = id.as_f64().filter(|_| id.is_number());
        self.items
            .iter()
            .position(|todo| wanted == Some(todo.id as f64))
            .map(|index| (index, display(id)))
            .ok_or_else(|| format!("Todo #{} not found", display(id)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(value: Value) -> Args {
        value.as_object().expect("an object").clone()
    }

    #[test]
    fn a_session_reads_like_upstream() {
        let mut todos = TodoList::default();
        assert_eq!(todos.list(&args(json!({}))), "No all todos found");
        assert_eq!(
            todos.add(&args(json!({"text": "milk"}))),
            Ok("Added todo #1: milk (priority: medium)".into())
        );
        assert_eq!(
            todos.add(&args(json!({"text": "eggs", "priority": "high"}))),
            Ok("Added todo #2: eggs (priority: high)".into())
        );
        assert_eq!(
            todos.complete(&args(json!({"id": 1}))),
            Ok("Completed todo #1: milk".into())
        );
        assert_eq!(
            todos.complete(&args(json!({"id": 1}))),
            Ok("Todo #1 is already completed".into())
        );
        assert_eq!(
            todos.list(&args(json!({}))),
            "Todo List (all):\n✓ #1 [medium] milk\n○ #2 [high] eggs"
        );
        assert_eq!(
            todos.list(&args(json!({"status": "pending"}))),
            "Todo List (pending):\n○ #2 [high] eggs"
        );
        assert_eq!(
            todos.list(&args(json!({"status": "completed"}))),
            "Todo List (completed):\n✓ #1 [medium] milk"
        );
        assert_eq!(
            todos.delete(&args(json!({"id": 2}))),
            Ok("Deleted todo #2: eggs".into())
        );
        assert_eq!(
            todos.list(&args(json!({"status": "pending"}))),
            "No pending todos found"
        );
        assert_eq!(todos.clear(), "Cleared 1 todo(s)");
        assert_eq!(
            todos.add(&args(json!({"text": "again"}))),
            Ok("Added todo #1: again (priority: medium)".into())
        );
    }

    #[test]
    fn errors_read_like_upstream() {
        let mut todos = TodoList::default();
        assert_eq!(todos.add(&args(json!({}))), Err("Text is required".into()));
        assert_eq!(
            todos.add(&args(json!({"text": ""}))),
            Err("Text is required".into())
        );
        assert_eq!(
            todos.complete(&args(json!({}))),
            Err("ID is required".into())
        );
        assert_eq!(
            todos.complete(&args(json!({"id": 0}))),
            Err("ID is required".into())
        );
        assert_eq!(
            todos.delete(&args(json!({"id": 7}))),
            Err("Todo #7 not found".into())
        );
        assert_eq!(
            todos.delete(&args(json!({"id": "1"}))),
            Err("Todo #1 not found".into())
        );
    }
}
