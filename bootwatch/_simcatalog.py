"""What simulated sites write: the message catalog of the fleet simulator (`bootwatch.simulate`).

Templates use `\\n` for an embedded line break (legacy `~`, CMTrace LF) and `{name}` placeholders the
simulator fills per site (site code, host, parent, drive, ...). Lifecycle markers use the phrases of
`parsers/data/rules.toml` (see `parsers/lifecycle/MARKERS.md`); every other line avoids them, and
levels are the ones the parsers infer (text rules for the legacy, setup and provider families, the
`type` attribute for CMTrace). The simulator's tests check both against the real rules and parsers.
"""

from __future__ import annotations

from dataclasses import dataclass

# One record of an attempt: (role, template, level, error code as HRESULT or None, lifecycle action or None).
# The role names the site's file (bootstrap, setup, prereq, hman, despool, sitecomp, prov, smsexec).

Step = tuple[str, str, str, str | None, str | None]

START_SMS2: tuple[Step, ...] = (
    ("bootstrap", "SMS_BOOTSTRAP service started", "info", None, "install.started"),
    (
        "bootstrap",
        "Bootstrap service started, reading {drive}:\\SMS_BOOTSTRAP\\bootstrap.ini",
        "info",
        None,
        "install.started",
    ),
)
START_CONFIGMGR: tuple[Step, ...] = (
    ("bootstrap", "SMS_BOOTSTRAP service started", "info", None, "install.started"),
    ("setup", "Configuration Manager Setup started", "info", None, "install.started"),
    (
        "setup",
        "~===================== << Starting Configuration Manager Setup >> =====================",
        "info",
        None,
        "install.started",
    ),
)
# A second start marker later in the same attempt (Setup starting after Bootstrap): same attempt.
SECOND_START = {
    "sms2": ("setup", "Setup has started, installing a secondary site.", "info", None, "install.started"),
    "configmgr": ("setup", "Configuration Manager Setup started", "info", None, "install.started"),
}
PROGRESS_SMS2: tuple[Step, ...] = (
    (
        "bootstrap",
        "Reading install parameters: site {site}, parent site {parent}, install directory {drive}:\\SMS",
        "info",
        None,
        None,
    ),
    (
        "bootstrap",
        "Parent site server is \\\\{parent_server}, sender address account {domain}\\SMSSender",
        "info",
        None,
        None,
    ),
    (
        "bootstrap",
        "\nFound ready instruction file {drive}:\\SMS_BOOTSTRAP\\bootstrap.ins",
        "info",
        None,
        None,
    ),
    ("bootstrap", "Waiting for the Sender to finish copying the install files\n\n", "info", None, None),
    (
        "bootstrap",
        "Copied {count} install files from \\\\{parent_server}\\SMS_{parent}\\inboxes\\sitesvr.box "
        "to {drive}:\\SMS_BOOTSTRAP",
        "info",
        None,
        None,
    ),
    (
        "bootstrap",
        "Running {drive}:\\SMS_BOOTSTRAP\\x86\\setup.exe /script {drive}:\\SMS_BOOTSTRAP\\setup.ini "
        "/nouserinput",
        "info",
        None,
        None,
    ),
    ("setup", "Setup is running for secondary site {site}, parent site {parent}", "info", None, None),
    ("setup", "Free disk space on {drive}: is {megabytes} MB", "info", None, None),
    ("setup", "Creating the SMS Service account {domain}\\SMSService on \\\\{host}", "info", None, None),
    (
        "setup",
        "Copying SMS site server files to {drive}:\\{data_dir}\\bin\\i386\nfrom {drive}:\\SMS_BOOTSTRAP\\x86",
        "info",
        None,
        None,
    ),
    ("setup", "Installing service SMS_SITE_COMPONENT_MANAGER on \\\\{host}", "info", None, None),
    (
        "setup",
        "Writing the site control file {drive}:\\{data_dir}\\inboxes\\sitectrl.box\\sitectrl.ct0",
        "info",
        None,
        None,
    ),
)
PROGRESS_CONFIGMGR: tuple[Step, ...] = (
    (
        "bootstrap",
        "Bootstrap parameters:\n  Site code: {site}\n  Parent site: {parent}\n  Install directory: "
        "{drive}:\\Program Files\\Microsoft Configuration Manager",
        "info",
        None,
        None,
    ),
    (
        "bootstrap",
        "Verifying the install source files in {drive}:\\SMS_BOOTSTRAP\\cd.latest",
        "info",
        None,
        None,
    ),
    (
        "bootstrap",
        "Launching {drive}:\\SMS_BOOTSTRAP\\cd.latest\\SMSSETUP\\BIN\\X64\\setup.exe\n"
        "  /script {drive}:\\SMS_BOOTSTRAP\\setup.ini\n  /NoUserInput",
        "info",
        None,
        None,
    ),
    ("prereq", "{fqdn};Administrative rights on site system;Passed;", "info", None, None),
    ("prereq", "{fqdn};Free disk space on site server;Passed;", "info", None, None),
    (
        "prereq",
        "{fqdn};SQL Server Express on secondary site;Warning;SQL Server Express will be installed by Setup",
        "warning",
        None,
        None,
    ),
    (
        "setup",
        "INFO: Secondary site {site}, parent site {parent}, install directory {drive}:\\{data_dir}",
        "info",
        None,
        None,
    ),
    ("setup", "INFO: Installing SQL Server Express for the site database", "info", None, None),
    ("setup", "INFO: SQL Server Express installation completed", "info", None, None),
    ("setup", "INFO: Creating the site database CM_{site} on {host}\\CONFIGMGRSEC", "info", None, None),
    ("setup", "INFO: Installing the SMS_EXECUTIVE service", "info", None, None),
    ("setup", "INFO: Updating the site control file for {site}", "info", None, None),
)
TRANSIENT: tuple[Step, ...] = (
    ("setup", "Failed to connect to the SQL Server, retrying", "error", None, "install.progress"),
    (
        "setup",
        "*** Failed to connect to the SQL Server, retrying in {seconds} seconds.",
        "error",
        None,
        "install.progress",
    ),
)
TRANSIENT_RECOVERED: Step = ("setup", "Connected to the SQL Server on {host}", "info", None, None)
# A recovered error with a code inside an attempt that then succeeds: its code is the attempt's.
RECOVERED_ERROR: tuple[Step, Step] = (
    (
        "bootstrap",
        "Failed to copy {drive}:\\SMS_BOOTSTRAP\\x86\\{binary}, the file is in use, error 32, will retry",
        "error",
        "0x80070020",
        "install.progress",
    ),
    ("bootstrap", "Copied {drive}:\\SMS_BOOTSTRAP\\x86\\{binary} on the second try", "info", None, None),
)


@dataclass(frozen=True, slots=True)
class Cause:
    """Why an attempt fails: the error record (with its code) and the Win32 number, if written as one."""

    step: Step
    win32: int | None


CAUSES: tuple[Cause, ...] = (
    Cause(
        (
            "setup",
            "Error: Cannot find any PDC for domain {domain}, Win32 return = 2453",
            "error",
            "0x80070995",
            None,
        ),
        2453,
    ),
    Cause(
        (
            "bootstrap",
            "ERROR - Cannot create the SMS Service account on \\\\{host}, Win32 error = 5",
            "error",
            "0x80070005",
            None,
        ),
        5,
    ),
    Cause(
        (
            "bootstrap",
            "Cannot copy {drive}:\\SMS_BOOTSTRAP\\x86\\smsexec.exe to {drive}:\\{data_dir}\\bin, error 112",
            "error",
            "0x80070070",
            None,
        ),
        112,
    ),
    Cause(
        (
            "bootstrap",
            "Failed to connect to \\\\{parent_server}\\SMS_{parent}, error 53",
            "error",
            "0x80070035",
            None,
        ),
        53,
    ),
    Cause(
        ("setup", "ERROR: Failed to register the SMS Provider, 0x80070005", "error", "0x80070005", None), None
    ),
    Cause(
        (
            "setup",
            "Failed to install SQL Server Native Client, error code 0x80070643",
            "error",
            "0x80070643",
            None,
        ),
        None,
    ),
    Cause(
        (
            "setup",
            "Unable to open {drive}:\\{data_dir}\\inboxes\\sitectrl.box\\sitectrl.ct0, the file is in "
            "use (error 32)",
            "error",
            "0x80070020",
            None,
        ),
        32,
    ),
    Cause(
        ("setup", "Failed to install the SMS_EXECUTIVE service, 0x87D00692", "error", "0x87D00692", None),
        None,
    ),
)
FATAL_GENERIC: tuple[Step, ...] = (
    ("setup", "Setup has encountered fatal errors", "error", None, "install.failed"),
    (
        "setup",
        "~===================== Failed Configuration Manager Server Setup =====================",
        "error",
        None,
        "install.failed",
    ),
)
FATAL_WIN32: Step = (
    "bootstrap",
    "ERROR - Setup failed, Win32 error = {win32}",
    "error",
    "{hresult}",
    "install.failed",
)
PREREQ_FAILURE: tuple[Step, Step] = (
    (
        "prereq",
        "{fqdn};SQL Server sysadmin rights;Error;The site server computer account needs the sysadmin "
        "role on \\\\{host}",
        "error",
        None,
        "install.failed",
    ),
    (
        "setup",
        "ERROR: Failed prerequisite checking. Review ConfigMgrPrereq.log for the failed rules.",
        "error",
        None,
        "install.failed",
    ),
)
STOPS: tuple[Step, ...] = (
    ("bootstrap", "SMS_BOOTSTRAP service stopped", "info", None, "bootstrap.stopped"),
    ("bootstrap", "Bootstrap is exiting.", "info", None, "bootstrap.stopped"),
)
SUCCESS = {
    "sms2": (
        ("setup", "Installation completed", "info", None, "install.succeeded"),
        ("sitecomp", "SMS_SITE_COMPONENT_MANAGER started", "info", None, "install.succeeded"),
    ),
    "configmgr": (
        ("setup", "Installation completed", "info", None, "install.succeeded"),
        (
            "setup",
            "~===================== Completed Configuration Manager Server Setup =====================",
            "info",
            None,
            "install.succeeded",
        ),
        ("smsexec", "SMS_EXECUTIVE started", "info", None, "install.succeeded"),
    ),
}
PLAIN_BANNERS = (
    "********************************************************************************",
    "---------------- {site} secondary site install ----------------",
)
PLAIN_CONTINUATION = "    (continued)"
# Component chatter after a successful install: (role, template, level). No codes and no marker
# wording here: records after a success belong to no attempt and must not open one.
CHATTER: dict[str, tuple[tuple[str, str], ...]] = {
    "hman": (
        (
            "Processing site control file: Site {site} File "
            "{drive}:\\{data_dir}\\inboxes\\hman.box\\{hex}.SCU",
            "info",
        ),
        ("\nUpdate the Sites table: Site={site} Parent={parent}", "info"),
        ("Site control file for {parent} received from \\\\{parent_server}", "info"),
        ("Sender failover to address 2 for site {parent}", "info"),
        ("WARNING - The parent site {parent} has not confirmed the site control file yet", "warning"),
    ),
    "despool": (
        (
            "\nFound ready instruction file {drive}:\\{data_dir}\\inboxes\\despoolr.box\\receive\\{hex}.ins",
            "info",
        ),
        (
            "Received package {parent}{number:05d} version {version}.\nCompressed file - "
            "{drive}:\\{pkg_dir}\\{parent}{number:05d}.PCK as "
            "{drive}:\\{data_dir}\\inboxes\\despoolr.box\\receive\\PKG{hex}.TMP",
            "info",
        ),
        ("Despooler is waiting for the next instruction\n\n", "info"),
        ("Failed to expand package {parent}{number:05d}, the package file is incomplete", "error"),
    ),
    "sitecomp": (
        ("Checking configuration of component SMS_DESPOOLER on server {host}", "info"),
        ("\nComponent SMS_HIERARCHY_MANAGER is installed and running on {host}", "info"),
        ("Warn>: the site server {host} has {megabytes} MB free on {drive}:", "warning"),
    ),
    "prov": (
        ('Execute WQL  =select * from SMS_Site where SiteCode = "{site}"', "info"),
        ("CExtProviderClassObject::DoPutInstance (SMS_SCI_Component) for {host}", "info"),
        ("Connected to the SMS Provider namespace root\\sms\\site_{site}", "info"),
    ),
    "smsexec": (
        ("Component SMS_DESPOOLER is running\n  Thread ID: {thread}\n  Working set: {megabytes} MB", "info"),
        ("SMS_EXECUTIVE is waiting for the next schedule", "info"),
        ("Low free disk space on {drive}: ({megabytes} MB), warning threshold reached", "warning"),
    ),
}
# Status message ids each component sends (all informational).
STATMSG_IDS = {"hman": (3306, 3307), "despool": (4400, 4401), "sitecomp": (1015, 1016)}
