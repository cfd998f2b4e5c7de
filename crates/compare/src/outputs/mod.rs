//! What a run writes: the report (table, JSON, Markdown, HTML), its verdicts and why they
//! hold, the provenance
//! of each measurement, the comparison with a saved baseline, and the merge of shards.

pub(crate) mod baseline;
mod churn_chart;
pub(crate) mod html;
pub(crate) mod margin;
pub(crate) mod merge;
pub(crate) mod provenance;
pub(crate) mod report;
mod svg;
pub(crate) mod verdict;
