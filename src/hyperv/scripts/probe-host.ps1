# What hvsnap doctor checks on a host: account rights, Hyper-V, the WMI namespace, cluster, VM versions.
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$in = ConvertFrom-HvsnapInput $InputJson

$report = [ordered]@{ ComputerName = $env:COMPUTERNAME; PowerShell = $PSVersionTable.PSVersion.ToString() }
$principal = New-Object Security.Principal.WindowsPrincipal ([Security.Principal.WindowsIdentity]::GetCurrent())
$report.UserName = [Security.Principal.WindowsIdentity]::GetCurrent().Name
$report.IsAdministrator = $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
$report.IsHyperVAdministrator = $principal.IsInRole((New-Object Security.Principal.SecurityIdentifier 'S-1-5-32-578'))
try { $os = Get-CimInstance -ClassName Win32_OperatingSystem; $report.Os = [string]$os.Caption; $report.OsBuild = [string]$os.BuildNumber } catch { $report.Os = $null }
try { $report.VmmsStatus = [string](Get-Service -Name vmms -ErrorAction Stop).Status } catch { $report.VmmsStatus = 'missing' }
$report.HyperVModule = [bool](Get-Module -ListAvailable -Name Hyper-V)
try { [void](Get-HvsnapService 'Msvm_VirtualSystemManagementService'); $report.Namespace = 'ok' } catch { $report.Namespace = $_.Exception.Message }
try { $report.Cluster = [string](@(Get-CimInstance -Namespace 'root\MSCluster' -ClassName MSCluster_Cluster -ErrorAction Stop)[0].Name) } catch { $report.Cluster = $null }
$vms = @()
try {
  foreach ($vm in (Get-HvsnapVms)) {
    $s = Get-HvsnapRealizedSettings $vm
    $vms += [ordered]@{ Name = [string]$vm.Name; ElementName = [string]$vm.ElementName; Version = [string]$s.Version }
  }
} catch { $report.VmError = $_.Exception.Message }
$report.Vms = $vms
ConvertTo-HvsnapJson $report
