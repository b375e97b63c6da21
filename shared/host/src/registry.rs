//! Function declarations: the single list from which `package`, `serve` and `dev` are built.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

use axum::http::Method;
use axum::routing::MethodRouter;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

/// What starts a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// An HTTP request at `/api/{route}`; `route` uses `{param}` placeholders.
    Http {
        route: &'static str,
        methods: Vec<Method>,
    },
    /// A message on a Service Bus queue.
    Queue { queue: &'static str },
    /// An NCRONTAB schedule with seconds (`"0 */5 * * * *"`).
    Timer {
        schedule: &'static str,
        run_on_startup: bool,
    },
}

/// A queue message as a handler sees it, whichever transport delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInvocation {
    pub queue: String,
    pub message_id: String,
    pub body: Bytes,
    pub correlation_id: Option<String>,
    pub properties: BTreeMap<String, String>,
    /// 1 on the first delivery.
    pub delivery_count: u32,
    /// The queue's maximum; when `delivery_count` reaches it a failure dead-letters the message.
    pub max_delivery_count: u32,
}

impl QueueInvocation {
    /// Whether a failure of this delivery is the last one before dead-lettering.
    pub fn is_final_delivery(&self) -> bool {
        self.delivery_count >= self.max_delivery_count
    }
}

/// A timer tick as a handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerInvocation {
    pub is_past_due: bool,
    pub last: Option<String>,
    pub next: Option<String>,
}

/// A message a queue handler wants sent, through an output binding (Azure) or the
/// [`visiobook_ports::JobQueue`] port (locally).
#[derive(Debug, Clone, PartialEq)]
pub struct OutMessage {
    pub queue: String,
    /// Used for duplicate detection where the transport supports it.
    pub message_id: String,
    /// Always a JSON object: the Functions host would base64-decode a bare string.
    pub body: Value,
    pub correlation_id: Option<String>,
}

/// A failed invocation. The message is safe to log; it is never returned to HTTP callers.
#[derive(Debug)]
pub struct HandlerError(pub anyhow::Error);

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl<E: Into<anyhow::Error>> From<E> for HandlerError {
    fn from(error: E) -> Self {
        Self(error.into())
    }
}

pub type QueueHandler<S> = Arc<
    dyn Fn(S, QueueInvocation) -> BoxFuture<'static, Result<Vec<OutMessage>, HandlerError>>
        + Send
        + Sync,
>;
pub type TimerHandler<S> =
    Arc<dyn Fn(S, TimerInvocation) -> BoxFuture<'static, Result<(), HandlerError>> + Send + Sync>;

/// What runs when the trigger fires.
pub enum Handler<S> {
    Http(Box<MethodRouter<S>>),
    Queue(QueueHandler<S>),
    Timer(TimerHandler<S>),
}

impl<S> std::fmt::Debug for Handler<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handler::Http(_) => "Handler::Http",
            Handler::Queue(_) => "Handler::Queue",
            Handler::Timer(_) => "Handler::Timer",
        })
    }
}

/// One declared function.
#[derive(Debug)]
pub struct FunctionDef<S> {
    /// The Functions name: also the folder name in the package and the `POST /{name}` path.
    pub name: &'static str,
    pub trigger: Trigger,
    pub handler: Handler<S>,
    /// Queues this function may send to (one Service Bus output binding each, named after
    /// the queue).
    pub output_queues: Vec<&'static str>,
    /// What the OpenAPI document says about each method (HTTP functions).
    pub docs: Vec<crate::openapi::OperationDoc>,
    /// Whether `visiobook package` writes it into the Function App (see [`Self::local_only`]).
    pub in_package: bool,
}

impl<S: Clone + Send + Sync + 'static> FunctionDef<S> {
    pub fn http(
        name: &'static str,
        route: &'static str,
        methods: &[Method],
        router: MethodRouter<S>,
    ) -> Self {
        Self {
            name,
            trigger: Trigger::Http {
                route,
                methods: methods.to_vec(),
            },
            handler: Handler::Http(Box::new(router)),
            output_queues: Vec::new(),
            docs: Vec::new(),
            in_package: true,
        }
    }

    /// Served by `visiobook dev` (and `serve`), but left out of the Function App package: in
    /// Azure another consumer handles its trigger (an AKS job, `visiobook job STAGE`, for a
    /// stage that needs tools the Functions plan does not have).
    pub fn local_only(mut self) -> Self {
        self.in_package = false;
        self
    }

    /// Documents one method of an HTTP function for the OpenAPI document.
    pub fn doc(mut self, doc: crate::openapi::OperationDoc) -> Self {
        self.docs.push(doc);
        self
    }

    pub fn queue<F, Fut>(
        name: &'static str,
        queue: &'static str,
        output_queues: &[&'static str],
        handler: F,
    ) -> Self
    where
        F: Fn(S, QueueInvocation) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<OutMessage>, HandlerError>> + Send + 'static,
    {
        Self {
            name,
            trigger: Trigger::Queue { queue },
            handler: Handler::Queue(Arc::new(move |state, invocation| {
                Box::pin(handler(state, invocation))
            })),
            output_queues: output_queues.to_vec(),
            docs: Vec::new(),
            in_package: true,
        }
    }

    pub fn timer<F, Fut>(name: &'static str, schedule: &'static str, handler: F) -> Self
    where
        F: Fn(S, TimerInvocation) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        Self {
            name,
            trigger: Trigger::Timer {
                schedule,
                run_on_startup: false,
            },
            handler: Handler::Timer(Arc::new(move |state, invocation| {
                Box::pin(handler(state, invocation))
            })),
            output_queues: Vec::new(),
            docs: Vec::new(),
            in_package: true,
        }
    }

    /// The `function.json` the Functions host reads for this function.
    pub fn function_json(&self) -> Value {
        let mut bindings = match &self.trigger {
            Trigger::Http { route, methods } => vec![
                json!({
                    "type": "httpTrigger",
                    "direction": "in",
                    "name": "req",
                    "authLevel": "anonymous",
                    "route": route,
                    "methods": methods.iter().map(|m| m.as_str().to_ascii_lowercase()).collect::<Vec<_>>(),
                }),
                json!({ "type": "http", "direction": "out", "name": "res" }),
            ],
            Trigger::Queue { queue } => vec![json!({
                "type": "serviceBusTrigger",
                "direction": "in",
                "name": QUEUE_BINDING,
                "queueName": queue,
                "connection": SERVICE_BUS_CONNECTION,
            })],
            Trigger::Timer {
                schedule,
                run_on_startup,
            } => vec![json!({
                "type": "timerTrigger",
                "direction": "in",
                "name": TIMER_BINDING,
                "schedule": schedule,
                "runOnStartup": run_on_startup,
            })],
        };
        for queue in &self.output_queues {
            bindings.push(json!({
                "type": "serviceBus",
                "direction": "out",
                "name": queue,
                "queueName": queue,
                "connection": SERVICE_BUS_CONNECTION,
            }));
        }
        json!({ "bindings": bindings })
    }
}

/// Binding name of every queue trigger (`Data.message` in the envelope).
pub const QUEUE_BINDING: &str = "message";
/// Binding name of every timer trigger (`Data.timer` in the envelope).
pub const TIMER_BINDING: &str = "timer";
/// The app-setting prefix of the identity-based Service Bus connection.
pub const SERVICE_BUS_CONNECTION: &str = "ServiceBusConnection";

/// Every function of the app, plus the queue workers that run as jobs outside Functions.
#[derive(Debug)]
pub struct Registry<S> {
    pub functions: Vec<FunctionDef<S>>,
}

impl<S: Clone + Send + Sync + 'static> Registry<S> {
    /// Builds a registry, refusing duplicate or malformed names and duplicate routes.
    pub fn new(functions: Vec<FunctionDef<S>>) -> anyhow::Result<Self> {
        let mut names = BTreeSet::new();
        let mut routes = BTreeSet::new();
        for function in &functions {
            let valid_name = function
                .name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && function
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            anyhow::ensure!(valid_name, "invalid function name {:?}", function.name);
            anyhow::ensure!(
                names.insert(function.name.to_ascii_lowercase()),
                "duplicate function name {:?}",
                function.name
            );
            if let Trigger::Http { route, methods } = &function.trigger {
                for method in methods {
                    anyhow::ensure!(
                        routes.insert((route.to_string(), method.clone())),
                        "route {method} {route} is declared twice"
                    );
                }
            }
            if let Trigger::Timer { schedule, .. } = &function.trigger {
                crate::timer::parse_schedule(schedule)?;
            }
        }
        Ok(Self { functions })
    }

    /// Case-insensitive lookup, as the Functions host treats names.
    pub fn get(&self, name: &str) -> Option<&FunctionDef<S>> {
        self.functions
            .iter()
            .find(|function| function.name.eq_ignore_ascii_case(name))
    }

    /// The queue-triggered functions with their queues.
    pub fn queue_functions(
        &self,
    ) -> impl Iterator<Item = (&'static str, &'static str, &QueueHandler<S>)> {
        self.functions
            .iter()
            .filter_map(|function| match (&function.trigger, &function.handler) {
                (Trigger::Queue { queue }, Handler::Queue(handler)) => {
                    Some((function.name, *queue, handler))
                }
                _ => None,
            })
    }

    /// The timer functions with their schedules.
    pub fn timer_functions(
        &self,
    ) -> impl Iterator<Item = (&'static str, &'static str, &TimerHandler<S>)> {
        self.functions
            .iter()
            .filter_map(|function| match (&function.trigger, &function.handler) {
                (Trigger::Timer { schedule, .. }, Handler::Timer(handler)) => {
                    Some((function.name, *schedule, handler))
                }
                _ => None,
            })
    }

    /// An axum router with every HTTP function at `/api/{route}` (the forwarded-HTTP shape).
    pub fn http_router(&self) -> axum::Router<S> {
        let mut router = axum::Router::new();
        for function in &self.functions {
            if let (Trigger::Http { route, .. }, Handler::Http(method_router)) =
                (&function.trigger, &function.handler)
            {
                router = router.route(
                    &format!("/{}/{route}", crate::ROUTE_PREFIX),
                    (**method_router).clone(),
                );
            }
        }
        router
    }
}
