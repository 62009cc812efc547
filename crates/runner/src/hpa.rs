//! `expect: { hpaReplicas }`: an autoscaler's replicas in a range, watched.
//! Besides the replicas now, it observes the most it reached and whether it
//! ever reported `ScalingLimited` (it wanted more than `maxReplicas`), which
//! a negative twin can match: a broken metrics pipeline cannot fake either.
//! An autoscaler that cannot get its metrics (`ScalingActive` False) cannot
//! be judged: at the deadline that is a timeout error, not a check not met.

use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::Api;
use report::CheckKind;
use serde_json::{Value, json};

use crate::context::{Check, Ctx, Observed, OpResult};
use crate::watch::{self, Seen};
use scenario::model::ExpectReplicas;

/// The status and reason of one condition, when the HPA has it.
fn condition(h: &HorizontalPodAutoscaler, kind: &str) -> Option<(bool, String)> {
    h.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| {
            (
                c.status == "True",
                format!(
                    "{} {}: {}",
                    c.status,
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default()
                ),
            )
        })
}

/// What the check keeps between watch events.
#[derive(Debug, Default)]
pub(crate) struct Seeing {
    highest: u32,
    limited_seen: bool,
}

impl Seeing {
    /// Judges one state of the autoscaler against `min..=max`.
    pub(crate) fn see(
        &mut self,
        name: &str,
        min: u32,
        max: u32,
        h: &HorizontalPodAutoscaler,
    ) -> Seen {
        let status = h.status.clone().unwrap_or_default();
        let current = status.current_replicas.unwrap_or(0).max(0) as u32;
        let desired = status.desired_replicas.max(0) as u32;
        self.highest = self.highest.max(current);
        let limited = condition(h, "ScalingLimited");
        let active = condition(h, "ScalingActive");
        if limited.as_ref().is_some_and(|(on, _)| *on) {
            self.limited_seen = true;
        }
        let value = json!({
            "hpa": name,
            "currentReplicas": current,
            "desiredReplicas": desired,
            "minReplicas": h.spec.as_ref().and_then(|s| s.min_replicas).unwrap_or(1),
            "maxReplicas": h.spec.as_ref().map(|s| s.max_replicas).unwrap_or(0),
            "highestReplicas": self.highest,
            "scalingLimited": limited.as_ref().is_some_and(|(on, _)| *on),
            "scalingLimitedSeen": self.limited_seen,
            "scalingActive": active.as_ref().map(|(on, _)| Value::Bool(*on)).unwrap_or(Value::Null),
        });
        let text = format!(
            "hpa/{name} has {current} replicas (desired {desired}, highest {}){}",
            self.highest,
            limited
                .as_ref()
                .filter(|(on, _)| *on)
                .map(|(_, why)| format!("; ScalingLimited {why}"))
                .unwrap_or_default()
        );
        if (min..=max).contains(&current) {
            return Seen::Held(Observed::new(text, value));
        }
        if let Some((false, why)) = &active {
            return Seen::Unjudgeable(format!(
                "hpa/{name} cannot scale, it has no metrics (ScalingActive {why}); it has {current} replicas"
            ));
        }
        Seen::NotYet(Observed::new(text, value))
    }
}

pub async fn replicas(ctx: &Ctx, h: &ExpectReplicas, timeout: Duration) -> OpResult {
    let api: Api<HorizontalPodAutoscaler> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let (min, max) = (h.min, h.max.unwrap_or(u32::MAX));
    let check = Check::new(
        CheckKind::HpaReplicas,
        format!(
            "hpa/{} replicas in {min}..={}",
            h.hpa,
            h.max.map(|m| m.to_string()).unwrap_or_else(|| "∞".into())
        ),
    );
    let mut seeing = Seeing::default();
    let w = watch::until(
        api,
        watch::named(&h.hpa),
        &format!("hpa/{}", h.hpa),
        timeout,
        |hpas: &[HorizontalPodAutoscaler]| match hpas.first() {
            None => Seen::Absent(format!("hpa/{} does not exist", h.hpa)),
            Some(x) => seeing.see(&h.hpa, min, max, x),
        },
    )
    .await?;
    Ok(w.judged(check))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hpa(current: i32, max: i32, conditions: &[(&str, &str, &str)]) -> HorizontalPodAutoscaler {
        serde_json::from_value(json!({
            "metadata": {"name": "m"},
            "spec": {"maxReplicas": max, "minReplicas": 1,
                     "scaleTargetRef": {"kind": "Deployment", "name": "m"}},
            "status": {"currentReplicas": current, "desiredReplicas": current,
                "conditions": conditions.iter().map(|(t, s, r)| json!({
                    "type": t, "status": s, "reason": r, "lastTransitionTime": "2026-12-01T00:00:00Z"
                })).collect::<Vec<_>>()}
        }))
        .expect("an hpa")
    }

    #[test]
    fn a_capped_autoscaler_is_not_met_with_what_it_reached() {
        let mut s = Seeing::default();
        let first = s.see(
            "m",
            3,
            4,
            &hpa(
                2,
                2,
                &[
                    ("ScalingActive", "True", "ValidMetricFound"),
                    ("ScalingLimited", "True", "TooManyReplicas"),
                ],
            ),
        );
        assert!(matches!(first, Seen::NotYet(_)));
        // Later the load eases and the limit lifts: what was seen stays.
        let Seen::NotYet(o) = s.see(
            "m",
            3,
            4,
            &hpa(
                2,
                2,
                &[
                    ("ScalingActive", "True", "ValidMetricFound"),
                    ("ScalingLimited", "False", "DesiredWithinRange"),
                ],
            ),
        ) else {
            panic!("not yet");
        };
        assert_eq!(o.value["highestReplicas"], 2);
        assert_eq!(o.value["maxReplicas"], 2);
        assert_eq!(o.value["scalingLimitedSeen"], true);
        assert_eq!(o.value["scalingLimited"], false);
    }

    #[test]
    fn an_autoscaler_without_metrics_cannot_be_judged() {
        let mut s = Seeing::default();
        let seen = s.see(
            "m",
            3,
            4,
            &hpa(
                1,
                2,
                &[
                    ("AbleToScale", "True", "SucceededGetScale"),
                    ("ScalingActive", "False", "FailedGetResourceMetric"),
                ],
            ),
        );
        assert!(
            matches!(seen, Seen::Unjudgeable(ref why) if why.contains("no metrics")),
            "{seen:?}"
        );
        assert!(matches!(
            s.see(
                "m",
                1,
                1,
                &hpa(
                    1,
                    2,
                    &[("ScalingActive", "False", "FailedGetResourceMetric")]
                )
            ),
            Seen::Held(_)
        ));
    }
}
