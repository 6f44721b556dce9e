<#
.SYNOPSIS
  Installs the bootwatch shipper as a Windows service (WinSW), or as a start-up scheduled task.

.DESCRIPTION
  Run in an elevated PowerShell on the secondary site server, from this folder.
  -WinSW  path of the WinSW executable you downloaded (https://github.com/winsw/winsw/releases;
          check its SHA-256 against the release page before you run it).
  -Python python.exe that has the shipper installed (pip install --no-deps bootwatch msgpack fluent-logger).
  -Config the shipper's TOML config (see ..\shipper.example.toml).
  -ScheduledTask  no service wrapper at all: a task that starts the shipper at boot as SYSTEM and
          restarts it when it fails (see README.md for what that gives up).
#>
param(
  [string]$WinSW = ".\WinSW-x64.exe",
  [string]$Python = "C:\Program Files\bootwatch\python\python.exe",
  [string]$Config = "C:\ProgramData\bootwatch\shipper.toml",
  [string]$InstallDir = "C:\Program Files\bootwatch",
  [switch]$ScheduledTask
)
$ErrorActionPreference = "Stop"

# Validate first: a wrong key is reported in one line and nothing is installed.
& $Python -m shippers --check --config $Config
if ($LASTEXITCODE -ne 0) { throw "the shipper config is not valid: fix $Config first" }

if ($ScheduledTask) {
  $action = New-ScheduledTaskAction -Execute $Python -Argument "-m shippers --config `"$Config`"" -WorkingDirectory $InstallDir
  $trigger = New-ScheduledTaskTrigger -AtStartup
  $settings = New-ScheduledTaskSettingsSet -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 1) `
    -ExecutionTimeLimit ([TimeSpan]::Zero) -StartWhenAvailable
  $principal = New-ScheduledTaskPrincipal -UserId "SYSTEM" -LogonType ServiceAccount -RunLevel Highest
  Register-ScheduledTask -TaskName "bootwatch shipper" -Action $action -Trigger $trigger -Settings $settings `
    -Principal $principal -Force | Out-Null
  Start-ScheduledTask -TaskName "bootwatch shipper"
  Write-Host "scheduled task 'bootwatch shipper' registered and started"
  exit 0
}

New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
$exe = Join-Path $InstallDir "bootwatch-shipper.exe"
Copy-Item $WinSW $exe -Force
$xml = (Get-Content (Join-Path $PSScriptRoot "bootwatch-shipper.xml") -Raw)
$xml = $xml.Replace("C:\Program Files\bootwatch\python\python.exe", $Python)
$xml = $xml.Replace("C:\ProgramData\bootwatch\shipper.toml", $Config)
$xml = $xml.Replace("<workingdirectory>C:\Program Files\bootwatch</workingdirectory>", "<workingdirectory>$InstallDir</workingdirectory>")
Set-Content -Path (Join-Path $InstallDir "bootwatch-shipper.xml") -Value $xml -Encoding UTF8
& $exe install
& $exe start
Write-Host "service bootwatch-shipper installed and started; status: $exe status"
