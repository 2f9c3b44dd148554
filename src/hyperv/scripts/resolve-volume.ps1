# The volume a host path lives on and the identity of the disk behind it: a CSV through the cluster
# WMI provider (root\MSCluster), else the local partition; then Get-Disk for UniqueId and serial.
# Get-Disk's UniqueIdFormat and BusType print as names ('FCPH Name', 'RAID'): a cast to [int] fails on
# them, so the numbers are read from CimInstanceProperties (MSFTDISK; reference section 8.2).
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$in = ConvertFrom-HvsnapInput $InputJson

$path = [string]$in.path
$best = $null
$bestRoot = ''
function Get-CimNumber($Instance, [string]$Name) {
  $p = $Instance.CimInstanceProperties[$Name]
  if ($null -eq $p -or $null -eq $p.Value) { return $null }
  return [int]$p.Value
}
function Test-Under([string]$Root) {
  $r = $Root.TrimEnd('\')
  return ($r.Length -gt 0 -and $path.StartsWith($r + '\', [StringComparison]::OrdinalIgnoreCase))
}
$csvs = @()
try { $csvs = @(Get-CimInstance -Namespace 'root\MSCluster' -ClassName MSCluster_ClusterSharedVolume -ErrorAction Stop) } catch { $csvs = @() }
foreach ($csv in $csvs) {
  foreach ($part in @(Get-CimAssociatedInstance -InputObject $csv -Association MSCluster_ClusterSharedVolumeToPartition)) {
    foreach ($root in (@($part.MountPoints) + @($part.Path))) {
      if ($root -and (Test-Under $root) -and $root.TrimEnd('\').Length -gt $bestRoot.Length) { $best = $part; $bestRoot = $root.TrimEnd('\') }
    }
  }
}
$disk = $null
if ($null -ne $best) {
  $cdisk = @(Get-CimAssociatedInstance -InputObject $best -Association MSCluster_DiskToDiskPartition -ResultClassName MSCluster_Disk)[0]
  $disk = [ordered]@{ UniqueId = [string]$cdisk.UniqueId; UniqueIdFormat = (Get-CimNumber $cdisk 'UniqueIdFormat'); SerialNumber = $null; BusType = $null; FriendlyName = $null }
  # a CSV on Storage Spaces Direct must be refused by its BusType: a failure here is an error, not a blank
  $d = @(Get-Disk -UniqueId $cdisk.UniqueId)[0]
  $disk.SerialNumber = [string]$d.SerialNumber; $disk.BusType = (Get-CimNumber $d 'BusType'); $disk.FriendlyName = [string]$d.FriendlyName
  ConvertTo-HvsnapJson ([ordered]@{ VolumeRoot = $bestRoot; IsCsv = $true; Disk = $disk })
  return
}
$bestPart = $null
foreach ($p in @(Get-Partition)) {
  foreach ($ap in @($p.AccessPaths)) {
    if ($ap -and -not $ap.StartsWith('\\?\') -and (Test-Under $ap) -and $ap.TrimEnd('\').Length -gt $bestRoot.Length) { $bestPart = $p; $bestRoot = $ap.TrimEnd('\') }
  }
}
if ($null -eq $bestPart) { Stop-Hvsnap 'not_found' "no volume on $env:COMPUTERNAME holds $path" @{ path = $path } }
$d = $bestPart | Get-Disk
$disk = [ordered]@{ UniqueId = [string]$d.UniqueId; UniqueIdFormat = (Get-CimNumber $d 'UniqueIdFormat'); SerialNumber = [string]$d.SerialNumber; BusType = (Get-CimNumber $d 'BusType'); FriendlyName = [string]$d.FriendlyName }
ConvertTo-HvsnapJson ([ordered]@{ VolumeRoot = $bestRoot; IsCsv = $false; Disk = $disk })
