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
# the management classes the backup calls (one instance each; reference sections 2, 3, 4)
$report.Services = [ordered]@{}
foreach ($c in @('Msvm_VirtualSystemManagementService', 'Msvm_VirtualSystemSnapshotService', 'Msvm_VirtualSystemReferencePointService', 'Msvm_ImageManagementService')) {
  try { $report.Services[$c] = [string]@(Get-CimInstance -Namespace $script:HvNs -ClassName $c -ErrorAction Stop).Count } catch { $report.Services[$c] = $_.Exception.Message }
}
# the nodes of its cluster and their state (CLUSWMI MSCluster_Node.State: 0 Up, 1 Down, 2 Paused, 3 Joining)
$report.ClusterNodes = @()
if ($report.Cluster) {
  try { $report.ClusterNodes = @(Get-CimInstance -Namespace 'root\MSCluster' -ClassName MSCluster_Node -ErrorAction Stop | ForEach-Object { [ordered]@{ Name = [string]$_.Name; State = [int]$_.State } }) } catch { $report.ClusterNodes = @() }
}
$vms = @()
try {
  foreach ($vm in (Get-HvsnapVms)) {
    $s = Get-HvsnapRealizedSettings $vm
    $vms += [ordered]@{ Name = [string]$vm.Name; ElementName = [string]$vm.ElementName; Version = [string]$s.Version }
  }
} catch { $report.VmError = $_.Exception.Message }
$report.Vms = $vms
ConvertTo-HvsnapJson $report
