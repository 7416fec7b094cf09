//! The monthly AWS bill of a grantdesk deployment, from what `make bench` measured: request units
//! as DynamoDB Local reports them, function durations as measured on the bench machine (an upper
//! bound: DynamoDB Local and the sandbox providers answer slower than DynamoDB and the real
//! providers), invocations and events as counted, at the template's memory size.
//!
//! What a deployment does per month is stated by [`Usage`]: the measured counts are per request,
//! per propagation cycle and per sync run; how many of those a month brings is the usage.

/// On-demand list prices, us-east-1 (USD), Lambda on arm64.
pub const PRICES: &str = "AWS on-demand list prices for us-east-1 as published on the services' \
    pricing pages in 2025 (DynamoDB after its November 2024 on-demand reduction) and assumed \
    unchanged on 2026-12-01; free tiers not deducted";
/// Lambda, per GB-second on arm64.
pub const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
/// Lambda, per request.
pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
/// DynamoDB on demand, per read request unit.
pub const DYNAMODB_READ_UNIT: f64 = 0.125 / 1e6;
/// DynamoDB on demand, per write request unit.
pub const DYNAMODB_WRITE_UNIT: f64 = 0.625 / 1e6;
/// HTTP API, per request (first 300 million a month).
pub const HTTP_API_REQUEST: f64 = 1.00 / 1e6;
/// EventBridge, per custom event published.
pub const EVENTBRIDGE_EVENT: f64 = 1.00 / 1e6;
/// EventBridge Scheduler, per invocation.
pub const SCHEDULER_INVOCATION: f64 = 1.00 / 1e6;
/// Secrets Manager, per secret per month.
pub const SECRET_MONTH: f64 = 0.40;
/// Secrets Manager, per API call.
pub const SECRET_CALL: f64 = 0.05 / 10_000.0;
/// CloudWatch, per standard alarm per month.
pub const ALARM_MONTH: f64 = 0.10;

pub use crate::capacity::Units;

/// The template's memory size for every function (Globals), in MB.
pub const MEMORY_MB: f64 = 256.0;
/// Scheduled sync runs a month at `rate(2 minutes)`.
pub const SYNC_RUNS_PER_MONTH: f64 = 30.0 * 24.0 * 30.0;
/// Secrets the stack keeps: the console's, three ticket providers and Slack.
pub const SECRETS: f64 = 5.0;
/// The template's alarms.
pub const ALARMS: f64 = 19.0;

impl Units {
    fn cost(self) -> f64 {
        self.read * DYNAMODB_READ_UNIT + self.write * DYNAMODB_WRITE_UNIT
    }

    fn times(self, n: f64) -> Self {
        Self {
            read: self.read * n,
            write: self.write * n,
        }
    }
}

/// A function invocation's measured cost drivers.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Work {
    /// Milliseconds it runs (billed per ms).
    pub ms: f64,
    /// DynamoDB request units it consumes, with what follows from it on the stream.
    pub units: Units,
}

/// What the bench measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Measured {
    /// Opening a request (`POST /requests`) and what the ticket filer does with it.
    pub open_request: Work,
    /// Approving it and what follows on the stream (the grant, its change, the domain events).
    pub approve: Work,
    /// One page view of a request (`GET /requests/{id}`).
    pub view: Work,
    /// One access change through its ticket: filed by the ticket filer, closed at the provider,
    /// the signed webhook completing it.
    pub propagation_cycle: Work,
    /// Stream records the ticket filer handles per request (open and approve), each at most
    /// one invocation.
    pub filer_records_per_request: f64,
    /// Stream records per propagation cycle.
    pub filer_records_per_cycle: f64,
    /// Ending a grant (access-expiry, or a hand removal: the same transition).
    pub end_grant: Work,
    /// Domain events put on the bus per request, from opening to its grant's end.
    pub events_per_request: f64,
    /// A scheduled sync run over open tickets none of which changed, per 1,000 read.
    pub sync_run_per_1000_read: Work,
    /// What one changed ticket adds to a sync run.
    pub sync_per_changed_ticket: Work,
    /// The most tickets one run reads (the budget, over all providers).
    pub sync_read_cap: f64,
}

/// A deployment's month.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Usage {
    /// People in the directory.
    pub users: f64,
    /// Access requests opened a month, each approved, propagated by ticket on grant and on
    /// revocation, and ended by expiry.
    pub requests: f64,
    /// Tickets open at any time (the sync's queue).
    pub open_tickets: f64,
    /// Page views per request (requester and reviewers, console or API).
    pub views_per_request: f64,
}

impl Usage {
    /// The three sizes the bill is stated for.
    pub fn sizes() -> [Self; 3] {
        [
            (100.0, 500.0, 200.0),
            (2_000.0, 10_000.0, 5_000.0),
            (20_000.0, 100_000.0, 50_000.0),
        ]
        .map(|(users, requests, open_tickets)| Self {
            users,
            requests,
            open_tickets,
            views_per_request: 6.0,
        })
    }
}

/// A month's bill, by service.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Bill {
    /// Lambda: requests and GB-seconds.
    pub lambda: f64,
    /// DynamoDB request units.
    pub dynamodb: f64,
    /// HTTP API requests.
    pub http_api: f64,
    /// EventBridge events and Scheduler invocations.
    pub events_and_schedules: f64,
    /// Secrets Manager secrets and calls.
    pub secrets: f64,
    /// CloudWatch alarms.
    pub alarms: f64,
}

impl Bill {
    /// The whole bill.
    pub fn total(&self) -> f64 {
        self.lambda + self.dynamodb + self.http_api + self.events_and_schedules + self.secrets + self.alarms
    }
}

fn lambda(invocations: f64, ms: f64) -> f64 {
    invocations * LAMBDA_REQUEST + invocations * (ms.ceil() / 1000.0) * (MEMORY_MB / 1024.0) * LAMBDA_GB_SECOND
}

/// The month of `usage` at the `measured` costs.
pub fn monthly(measured: &Measured, usage: &Usage) -> Bill {
    let r = usage.requests;
    let m = measured;
    // Per request: open, approve, views; two propagation cycles (grant and revocation); the
    // grant's end by its schedule; sign-ins are views too.
    let api_calls = r * (2.0 + usage.views_per_request) + usage.users;
    let cycles = 2.0 * r;
    let filer_invocations = r * m.filer_records_per_request + cycles * m.filer_records_per_cycle;
    // Sync: every run reads up to its cap; the tickets that change over a month (the two
    // propagation tickets of each request) each add their cost once.
    let read_per_run = usage.open_tickets.min(m.sync_read_cap);
    let sync_ms = m.sync_run_per_1000_read.ms * read_per_run / 1000.0;
    let sync_units = m
        .sync_run_per_1000_read
        .units
        .times(read_per_run / 1000.0 * SYNC_RUNS_PER_MONTH);
    let changed = m.sync_per_changed_ticket.units.times(cycles);
    let lambda_cost = lambda(r, m.open_request.ms)
        + lambda(r, m.approve.ms)
        + lambda(r * usage.views_per_request + usage.users, m.view.ms)
        + lambda(cycles, m.propagation_cycle.ms)
        + lambda(filer_invocations, m.view.ms)
        + lambda(r, m.end_grant.ms)
        + lambda(SYNC_RUNS_PER_MONTH, sync_ms);
    let dynamodb = m.open_request.units.times(r).cost()
        + m.approve.units.times(r).cost()
        + m.view.units.times(r * usage.views_per_request + usage.users).cost()
        + m.propagation_cycle.units.times(cycles).cost()
        + m.end_grant.units.times(r).cost()
        + sync_units.cost()
        + changed.cost();
    let webhooks = cycles;
    // Secrets: read at most once per invocation of a function that reaches a provider.
    let secret_calls = filer_invocations + SYNC_RUNS_PER_MONTH + webhooks;
    Bill {
        lambda: lambda_cost,
        dynamodb,
        http_api: (api_calls + webhooks) * HTTP_API_REQUEST,
        events_and_schedules: r * m.events_per_request * EVENTBRIDGE_EVENT
            + (r + SYNC_RUNS_PER_MONTH) * SCHEDULER_INVOCATION,
        secrets: SECRETS * SECRET_MONTH + secret_calls * SECRET_CALL,
        alarms: ALARMS * ALARM_MONTH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured() -> Measured {
        let work = |ms: f64, read: f64, write: f64| Work {
            ms,
            units: Units { read, write },
        };
        Measured {
            open_request: work(30.0, 6.0, 4.0),
            approve: work(30.0, 6.0, 10.0),
            view: work(20.0, 4.0, 0.0),
            propagation_cycle: work(60.0, 12.0, 12.0),
            filer_records_per_request: 4.0,
            filer_records_per_cycle: 3.0,
            end_grant: work(30.0, 6.0, 8.0),
            events_per_request: 4.0,
            sync_run_per_1000_read: work(500.0, 70.0, 0.0),
            sync_per_changed_ticket: work(5.0, 2.0, 3.0),
            sync_read_cap: 6_000.0,
        }
    }

    #[test]
    fn the_bill_grows_with_requests_and_the_sync_stops_growing_at_its_cap() {
        let m = measured();
        let [small, medium, large] = Usage::sizes().map(|u| monthly(&m, &u));
        assert!(small.total() < medium.total() && medium.total() < large.total());
        // 5,000 and 50,000 open tickets both read the cap each run: the same sync cost.
        let sync_only = |open_tickets: f64| {
            let usage = Usage {
                users: 0.0,
                requests: 0.0,
                open_tickets,
                views_per_request: 0.0,
            };
            monthly(&m, &usage)
        };
        assert_eq!(sync_only(6_000.0), sync_only(50_000.0));
        assert!(sync_only(200.0).total() < sync_only(6_000.0).total());
        // Fixed costs: the secrets and the alarms.
        let idle = sync_only(0.0);
        assert!((idle.alarms - 1.9).abs() < 1e-9);
        assert!((idle.secrets - 2.0 - SYNC_RUNS_PER_MONTH * SECRET_CALL).abs() < 1e-9);
    }

    #[test]
    fn lambda_bills_requests_and_rounded_up_milliseconds_at_256_mb() {
        // One million invocations of 99.2 ms: $0.20 + 1e6 × 0.1 s × 0.25 GB × the GB-second price.
        let expected = 0.20 + 1e6 * 0.1 * 0.25 * LAMBDA_GB_SECOND;
        assert!((lambda(1e6, 99.2) - expected).abs() < 1e-9);
    }
}
