use tollgate_preflight::PluginPackage;

/// The standard plugins: each embedded in the binary as `builtin:<name>`.
pub const STANDARD_PLUGINS: &[PluginPackage] = &[
    PluginPackage { name: "change-window", dir: "plugins/change-window" },
    PluginPackage { name: "approval-count", dir: "plugins/approval-count" },
    PluginPackage { name: "secret-scope", dir: "plugins/secret-scope" },
    PluginPackage { name: "erp-readiness", dir: "plugins/erp-readiness" },
    PluginPackage { name: "deployment-health", dir: "plugins/deployment-health" },
    PluginPackage { name: "soak-time", dir: "plugins/soak-time" },
];
