//! More instances of a service beside the first: replicas with their own sidecar, and
//! bare processes started with a changed environment.

use super::*;

impl Stack {
    /// Starts one more instance of `name` (a service with a sidecar) with its own daprd,
    /// and waits until both are ready. Returns its index in [`Stack::replicas`].
    pub fn add_replica(&mut self, name: &str) -> Result<usize> {
        let def = SERVICES
            .iter()
            .find(|d| d.name == name && d.sidecar)
            .ok_or_else(|| crate::HarnessError::Missing {
                what: format!("a service with a sidecar called {name}"),
                fix: format!(
                    "one of {:?}",
                    SERVICES.iter().map(|d| d.name).collect::<Vec<_>>()
                ),
            })?;
        let n = 2 + self.replicas.iter().filter(|r| r.name == def.name).count();
        let instance = format!("{}-{n}", def.name);
        let (api_port, admin_port, dapr_ports) = (free_port()?, free_port()?, DaprPorts::free()?);
        let env = service_env(
            def,
            Some(&dapr_ports),
            &self.postgres,
            &self.kafka,
            &self.jaeger,
            &self.secrets,
            &self.options,
        );
        let mut service = Service::spawn_instance(
            &mut self.run,
            def.name,
            &instance,
            api_port,
            admin_port,
            env,
        )?;
        service.wait_healthy()?;
        let mut daprd = Daprd::spawn_instance(
            &mut self.run,
            &self.tools,
            def.name,
            &instance,
            api_port,
            dapr_ports,
            &self.dapr_env.for_app(self.secrets.app_token(def.name)),
        )?;
        daprd.wait_ready()?;
        service.wait_ready()?;
        self.replicas.push(Replica {
            name: def.name,
            instance,
            running: RunningService {
                daprd: Some(daprd),
                service,
            },
        });
        Ok(self.replicas.len() - 1)
    }

    /// Starts one more process of service `name`, without a sidecar and without waiting for
    /// it, with the environment the stack gives that service changed by `edit`: for tests of
    /// how a service refuses settings it cannot run with. Its log is `services/<instance>.log`.
    pub fn spawn_with_env(
        &mut self,
        name: &str,
        instance: &str,
        edit: impl FnOnce(&mut Vec<(String, String)>),
    ) -> Result<Service> {
        let def = SERVICES.iter().find(|d| d.name == name).ok_or_else(|| {
            crate::HarnessError::Missing {
                what: format!("a service called {name}"),
                fix: format!(
                    "one of {:?}",
                    SERVICES.iter().map(|d| d.name).collect::<Vec<_>>()
                ),
            }
        })?;
        let dapr_ports = if def.sidecar {
            Some(DaprPorts::free()?)
        } else {
            None
        };
        let mut env = service_env(
            def,
            dapr_ports.as_ref(),
            &self.postgres,
            &self.kafka,
            &self.jaeger,
            &self.secrets,
            &self.options,
        );
        edit(&mut env);
        Service::spawn_instance(
            &mut self.run,
            def.name,
            instance,
            free_port()?,
            free_port()?,
            env,
        )
    }

    /// Stops every replica (each daprd first, then its app), leaving the first instances.
    pub fn stop_replicas(&mut self) {
        self.replicas.clear();
    }
}
