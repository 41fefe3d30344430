//! Starting the stack: every component in its order, then the scrape targets.

use std::collections::BTreeMap;

use super::*;

/// Everything but the run directory, as `start_in` builds it.
pub(super) struct StackParts {
    pub(super) services: BTreeMap<&'static str, RunningService>,
    pub(super) prometheus: Prometheus,
    pub(super) alertmanager: Alertmanager,
    pub(super) jaeger: Jaeger,
    pub(super) log_agent: LogAgent,
    pub(super) logs: VictoriaLogs,
    pub(super) kafka: Kafka,
    pub(super) postgres: Postgres,
    pub(super) postgres_exporter: PostgresExporter,
    pub(super) secrets: StackSecrets,
    pub(super) tools: Toolchain,
    pub(super) dapr_env: DaprEnv,
}

impl Stack {
    pub(super) fn start_in(
        run: &mut RunDir,
        tools: Toolchain,
        options: &StackOptions,
        gateway_port: u16,
        ports: &UiPorts,
    ) -> Result<StackParts> {
        let secrets = StackSecrets {
            dapr_api_token: random_token(),
            app_tokens: CALLED_BY_SIDECAR
                .iter()
                .map(|s| ((*s).to_owned(), random_token()))
                .collect(),
            jwt_secret: random_token(),
        };

        let transport = if options.database_tls {
            Transport::Tls
        } else {
            Transport::Plain
        };
        let mut postgres = Postgres::spawn_with(run, &tools, transport)?;
        let mut kafka = Kafka::spawn(run, &tools)?;
        let mut jaeger = Jaeger::spawn(run, &tools, ports.traces)?;
        let mut alertmanager =
            Alertmanager::spawn(run, &tools, ports.alertmanager, &options.alert_webhooks)?;
        let mut logs = VictoriaLogs::spawn(run, &tools, ports.logs)?;
        postgres.wait_ready()?;
        let mut postgres_exporter = PostgresExporter::spawn(run, &tools, &postgres)?;
        kafka.wait_ready()?;
        jaeger.wait_ready()?;
        alertmanager.wait_ready()?;
        postgres_exporter.wait_ready()?;
        logs.wait_ready()?;
        let service_names: Vec<&str> = SERVICES.iter().map(|def| def.name).collect();
        let mut log_agent = LogAgent::spawn(run, &tools, &logs, &service_names)?;
        log_agent.wait_ready()?;
        for def in SERVICES {
            if let Some(db) = def.database {
                postgres.create_database(db)?;
            }
        }

        let dapr_env = DaprEnv {
            kafka_brokers: kafka.bootstrap(),
            nameres_db: run.path().join("nameres.db"),
            otlp_endpoint: jaeger.otlp_http_endpoint(),
            sampling_rate: if options.tracing {
                options.sampling_rate.clone()
            } else {
                "0".into()
            },
            api_token: secrets.dapr_api_token.clone(),
            // Each sidecar gets its own app's token: see `for_app`.
            app_token: String::new(),
        };

        let mut planned = Vec::new();
        for def in SERVICES {
            let api_port = if def.name == "frontend-gateway" {
                gateway_port
            } else {
                free_port()?
            };
            let dapr_ports = if def.sidecar {
                Some(DaprPorts::free()?)
            } else {
                None
            };
            planned.push((*def, api_port, free_port()?, dapr_ports));
        }

        let mut services = BTreeMap::new();
        for (def, api_port, admin_port, dapr_ports) in &planned {
            let env = service_env(
                def,
                dapr_ports.as_ref(),
                &postgres,
                &kafka,
                &jaeger,
                &secrets,
                options,
            );
            let service = Service::spawn(run, def.name, *api_port, *admin_port, env)?;
            services.insert(
                def.name,
                RunningService {
                    service,
                    daprd: None,
                },
            );
        }
        // daprd waits for its app's port, and the gateway's readiness waits for its daprd:
        // so services must serve before sidecars start, and be ready only after.
        for running in services.values_mut() {
            running.service.wait_healthy()?;
        }
        // The first sidecar creates and migrates the shared name-resolution file alone
        // (Daprd::wait_name_resolution says why); the others start together after it.
        let mut first = true;
        for (def, api_port, _, dapr_ports) in &planned {
            if let Some(ports) = dapr_ports {
                let env = dapr_env.for_app(secrets.app_token(def.name));
                let mut daprd = Daprd::spawn(run, &tools, def.name, *api_port, *ports, &env)?;
                if first {
                    daprd.wait_name_resolution(std::time::Duration::from_secs(60))?;
                    first = false;
                }
                if let Some(running) = services.get_mut(def.name) {
                    running.daprd = Some(daprd);
                }
            }
        }
        for running in services.values_mut() {
            if let Some(d) = running.daprd.as_mut() {
                d.wait_ready()?;
            }
            running.service.wait_ready()?;
        }

        let mut targets = Vec::new();
        for running in services.values() {
            let name = running.service.name().to_owned();
            targets.push(ScrapeTarget {
                job: "learnflow-services",
                port: running.service.admin_port(),
                service: name.clone(),
                app_id: Some(name.clone()),
            });
            if let Some(d) = &running.daprd {
                targets.push(ScrapeTarget {
                    job: "dapr-sidecars",
                    port: d.ports().metrics,
                    service: name.clone(),
                    app_id: Some(name),
                });
            }
        }
        targets.push(ScrapeTarget {
            job: "postgresql",
            port: postgres_exporter.port(),
            service: "postgresql".into(),
            app_id: None,
        });
        targets.push(ScrapeTarget {
            job: "kafka-broker",
            port: kafka.metrics_port(),
            service: "kafka".into(),
            app_id: None,
        });
        targets.sort_by_key(|t| t.job);
        let alerting = Alerting {
            alertmanager: alertmanager.address(),
            runbook_base: Alerting::local_runbooks(),
        };
        let prometheus = Prometheus::start(run, &tools, ports.prometheus, &targets, &alerting)?;

        Ok(StackParts {
            services,
            prometheus,
            alertmanager,
            jaeger,
            log_agent,
            logs,
            kafka,
            postgres,
            postgres_exporter,
            secrets,
            tools,
            dapr_env,
        })
    }
}
