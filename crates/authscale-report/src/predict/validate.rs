//! A prediction checked against a measured run: another run's setting
//! predicted from this run's costs, or a run's own held-out steps from its
//! first ones; predicted against measured per point, with the error.

use super::*;
/// Predicted against measured at one (mode, N).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidationPoint {
    pub n: u32,
    pub predicted: f64,
    /// The prediction's 95% interval, where the fitted run has slices.
    pub predicted_interval: Option<(f64, f64)>,
    pub measured: f64,
    /// (predicted − measured) / measured, percent.
    pub error_pct: f64,
    pub predicted_latency_ms: f64,
    pub measured_latency_ms: f64,
    pub predicted_bottleneck: crate::analysis::Bottleneck,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModeValidation {
    pub mode: String,
    pub points: Vec<ValidationPoint>,
    pub mean_abs_error_pct: f64,
    pub max_abs_error_pct: f64,
    pub knee_predicted: Option<u32>,
    pub knee_measured: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Validation {
    /// What was predicted from what.
    pub description: String,
    pub modes: Vec<ModeValidation>,
    /// The prediction behind it (B's setting, B's measured points).
    pub prediction: Prediction,
}

/// Predicts run B's setting (budgets, work, round trip, connections, N)
/// from run A's measurements.
pub fn validate(a: &Run, a_name: &str, b: &Run, b_name: &str) -> Result<Validation, PredictError> {
    validate_against(
        a,
        a_name,
        b,
        b,
        &format!("{b_name} predicted from {a_name}"),
    )
}

/// Predicts a run's steps outside `fit_nodes` from those inside.
pub fn validate_held_out(
    run: &Run,
    name: &str,
    fit_nodes: &[u32],
) -> Result<Validation, PredictError> {
    let split = |inside: bool| {
        let mut r = run.clone();
        r.steps.retain(|s| fit_nodes.contains(&s.nodes) == inside);
        r
    };
    let (fit, held) = (split(true), split(false));
    if fit.steps.is_empty() {
        return Err(PredictError::FitNodes(format!(
            "{fit_nodes:?}: the run has no steps at these N"
        )));
    }
    if held.steps.is_empty() {
        return Err(PredictError::FitNodes(format!(
            "{fit_nodes:?} covers every N of the run: nothing left to predict"
        )));
    }
    let description =
        format!("{name}: N ∉ {fit_nodes:?} predicted from its steps at N ∈ {fit_nodes:?}");
    validate_against(&fit, name, &held, run, &description)
}

/// `target`: the steps to predict; `whole`: the run its measured knee is
/// read from (and whose N grid the predicted knee is placed on).
fn validate_against(
    fit: &Run,
    fit_name: &str,
    target: &Run,
    whole: &Run,
    description: &str,
) -> Result<Validation, PredictError> {
    let cluster = Cluster::of_run(whole);
    let measured_knees: BTreeMap<String, Option<u32>> = analyse(whole)
        .modes
        .into_iter()
        .map(|m| (m.mode.to_string(), m.knee))
        .collect();
    let mut prediction = predict(fit, fit_name, &cluster)?;
    prediction
        .modes
        .retain(|m| measured_knees.contains_key(&m.mode));
    let mut modes = Vec::new();
    for m in &mut prediction.modes {
        m.measured = measured(whole, &m.mode);
        let points: Vec<ValidationPoint> = target
            .steps
            .iter()
            .filter(|s| s.mode.as_str() == m.mode)
            .filter_map(|s| {
                let p = m.points.iter().find(|p| p.n == s.nodes)?;
                Some(ValidationPoint {
                    n: s.nodes,
                    predicted: p.throughput,
                    predicted_interval: p.throughput_interval,
                    measured: s.throughput,
                    error_pct: (p.throughput - s.throughput) / s.throughput * 100.0,
                    predicted_latency_ms: p.latency_ms,
                    measured_latency_ms: s.latency_ms.mean,
                    predicted_bottleneck: p.bottleneck,
                })
            })
            .collect();
        let abs: Vec<f64> = points.iter().map(|p| p.error_pct.abs()).collect();
        modes.push(ModeValidation {
            mode: m.mode.clone(),
            mean_abs_error_pct: abs.iter().sum::<f64>() / abs.len().max(1) as f64,
            max_abs_error_pct: abs.iter().copied().fold(0.0, f64::max),
            points,
            knee_predicted: m.knee,
            knee_measured: measured_knees.get(&m.mode).copied().flatten(),
        });
    }
    Ok(Validation {
        description: description.into(),
        modes,
        prediction,
    })
}
