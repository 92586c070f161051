//! The results of a run: a table for people, JSON for scripts.

use serde::Serialize;

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    /// The scenario (`posts`, `fanout/100`, ...).
    pub(crate) scenario: String,
    /// What was measured.
    pub(crate) metric: String,
    /// The figure.
    pub(crate) value: f64,
    /// Its unit.
    pub(crate) unit: &'static str,
    /// What it is compared with (a baseline or floor from the same run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) baseline: Option<Baseline>,
}

/// A figure from the same run that a row is compared with.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Baseline {
    /// Which baseline (`hyper 200`, `crypto floor`, ...).
    pub(crate) name: String,
    /// Its value, in the row's unit.
    pub(crate) value: f64,
    /// `value / baseline` of the row.
    pub(crate) ratio: f64,
}

/// Every row of a run, and what it ran on.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Report {
    /// Where it ran.
    pub(crate) machine: Machine,
    /// The figures, in the order measured.
    pub(crate) rows: Vec<Row>,
    /// Remarks (skipped baselines, refused or cut-off requests).
    pub(crate) notes: Vec<String>,
}

/// The machine a run measured.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Machine {
    /// Logical CPUs.
    pub(crate) cpus: usize,
    /// `uname -r`-like kernel release, where known.
    pub(crate) kernel: Option<String>,
    /// The CPU model, where known.
    pub(crate) cpu_model: Option<String>,
}

impl Machine {
    /// Reads the machine's description from `/proc` (Linux).
    pub(crate) fn here() -> Machine {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_owned());
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        });
        Machine {
            cpus,
            kernel,
            cpu_model,
        }
    }
}

impl Report {
    /// Adds a figure.
    pub(crate) fn add(&mut self, scenario: &str, metric: &str, value: f64, unit: &'static str) {
        self.rows.push(Row {
            scenario: scenario.to_owned(),
            metric: metric.to_owned(),
            value,
            unit,
            baseline: None,
        });
    }

    /// Adds a figure next to a baseline of the same unit.
    pub(crate) fn add_vs(
        &mut self,
        scenario: &str,
        metric: &str,
        value: f64,
        unit: &'static str,
        baseline_name: &str,
        baseline: f64,
    ) {
        let ratio = if baseline > 0.0 {
            value / baseline
        } else {
            f64::NAN
        };
        self.rows.push(Row {
            scenario: scenario.to_owned(),
            metric: metric.to_owned(),
            value,
            unit,
            baseline: Some(Baseline {
                name: baseline_name.to_owned(),
                value: baseline,
                ratio,
            }),
        });
    }

    /// Puts `baseline` (named `name`) next to the existing row `scenario` /
    /// `metric`, with the ratio of the row's value to it; nothing happens
    /// when there is no such row.
    pub(crate) fn compare(&mut self, scenario: &str, metric: &str, name: &str, baseline: f64) {
        if let Some(row) = self
            .rows
            .iter_mut()
            .find(|r| r.scenario == scenario && r.metric == metric)
        {
            let ratio = if baseline > 0.0 {
                row.value / baseline
            } else {
                f64::NAN
            };
            row.baseline = Some(Baseline {
                name: name.to_owned(),
                value: baseline,
                ratio,
            });
        }
    }

    /// Adds a remark.
    pub(crate) fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// The table printed for people.
    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        out.push_str(&format!(
            "machine: {} CPUs, {}, kernel {}\n\n",
            m.cpus,
            m.cpu_model.as_deref().unwrap_or("unknown CPU"),
            m.kernel.as_deref().unwrap_or("unknown"),
        ));
        let header = [
            "scenario",
            "metric",
            "value",
            "unit",
            "baseline",
            "base value",
            "ratio",
        ];
        let mut lines: Vec<[String; 7]> = vec![header.map(str::to_owned)];
        for r in &self.rows {
            let (bn, bv, ratio) = match &r.baseline {
                Some(b) => (b.name.clone(), fmt_num(b.value), format!("{:.2}", b.ratio)),
                None => (String::new(), String::new(), String::new()),
            };
            lines.push([
                r.scenario.clone(),
                r.metric.clone(),
                fmt_num(r.value),
                r.unit.to_owned(),
                bn,
                bv,
                ratio,
            ]);
        }
        let mut widths = [0usize; 7];
        for l in &lines {
            for (w, cell) in widths.iter_mut().zip(l) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for l in &lines {
            let cells: Vec<String> = l
                .iter()
                .zip(widths)
                .enumerate()
                .map(|(i, (cell, w))| {
                    // Numbers right-aligned, words left-aligned.
                    if matches!(i, 2 | 5 | 6) {
                        format!("{cell:>w$}")
                    } else {
                        format!("{cell:<w$}")
                    }
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        for n in &self.notes {
            out.push_str(&format!("\nnote: {n}"));
        }
        if !self.notes.is_empty() {
            out.push('\n');
        }
        out
    }
}

/// A figure with as many decimals as it deserves.
fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        "-".to_owned()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_json_carry_rows_ratios_and_notes() {
        let mut r = Report::default();
        r.add_vs("posts", "posts/s", 5000.0, "1/s", "hyper 200", 20000.0);
        r.add("memory", "idle RSS", 12.345, "MiB");
        r.note("mosquitto not installed");
        let t = r.table();
        assert!(t.contains("posts/s"), "{t}");
        assert!(t.contains("0.25"), "{t}");
        assert!(t.contains("12.35") || t.contains("12.3"), "{t}");
        assert!(t.contains("note: mosquitto not installed"), "{t}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["rows"][0]["baseline"]["ratio"], 0.25);
        assert!(json["rows"][1].get("baseline").is_none());
        assert_eq!(fmt_num(f64::NAN), "-");
        r.compare("memory", "idle RSS", "other", 24.69);
        assert_eq!(r.rows[1].baseline.as_ref().unwrap().ratio, 0.5);
        r.compare("memory", "no such metric", "other", 1.0);
        assert_eq!(r.rows.len(), 2);
    }
}
