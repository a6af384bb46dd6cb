//! The `/proc`, `/sys` and `/etc` parsers of agent discovery on arbitrary
//! text (every input goes through every parser): they must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollcall_agent::discovery::{
    accounts, hardware, host, identity, mounts, network, os, services, sockets,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    let _ = hardware::parse_cpuinfo(text);
    let _ = hardware::parse_meminfo(text);
    for line in text.lines().take(16) {
        // `/sys/block/<name>` names and the `rotational` flag.
        let _ = hardware::disk_kind(line, hardware::is_disk(line));
    }
    let _ = host::cpu_has_hypervisor_flag(text);
    let _ = host::detect_hypervisor(Some(text), host::cpu_has_hypervisor_flag(text), &[text]);
    let _ = host::detect_container(false, false, Some(text), Some(text));
    let _ = identity::fqdn_from_hosts("host", text);

    for entry in mounts::parse_mounts(text) {
        let _ = mounts::is_reported_mount(&entry);
    }
    let _ = sockets::parse_proc_net(text, "tcp");
    let _ = sockets::parse_proc_net(text, "tcp6");
    let routes = network::parse_ipv4_routes(text);
    let _ = network::default_ipv4_gateway(&routes);
    let _ = network::ipv4_addresses_from_fib(text, &routes);
    let _ = network::parse_if_inet6(text);
    let _ = network::default_ipv6_gateway(text);
    let _ = network::parse_resolv_conf(text);

    let release = os::parse_os_release(text);
    let _ = os::os_from_release(&release);
    let _ = os::boot_time(text);
    let _ = os::zone_from_link(text);

    let _ = accounts::parse_passwd(text);
    let _ = accounts::parse_group(text);
    let _ = services::parse_unit_files(text);
    let _ = services::parse_failed_units(text);
    let _ = services::merge_units(text, text);
});
