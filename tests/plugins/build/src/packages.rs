use tollgate_preflight::PluginPackage;

/// The plugins only tests use: the example and the test plugins beside this crate.
pub const TEST_PLUGINS: &[PluginPackage] = &[
    PluginPackage { name: "image-policy", dir: "plugins/examples/image-policy" },
    PluginPackage { name: "hostile", dir: "tests/plugins/hostile" },
    PluginPackage { name: "hostile-info", dir: "tests/plugins/hostile-info" },
    PluginPackage { name: "undeclared", dir: "tests/plugins/undeclared" },
    PluginPackage { name: "contract-0-1-0", dir: "tests/plugins/contract-0-1-0" },
    PluginPackage { name: "contract-0-1-1", dir: "tests/plugins/contract-0-1-1" },
    PluginPackage { name: "contract-0-1-2", dir: "tests/plugins/contract-0-1-2" },
];
