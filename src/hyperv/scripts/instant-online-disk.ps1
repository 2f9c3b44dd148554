# Brings a presented LUN (found by its page-83 id, MSFT_Disk.UniqueId) online read-write and mounts
# its largest basic data partition at an access path (hyperv-wmi.md section 8.3). A disk offline
# because its signature or GUID collides with another disk gets a new one first (Set-Disk -Signature
# for MBR, -Guid for GPT); IsReadOnly and IsOffline are set in two calls (they are in different
# parameter sets). The order of those calls is UNCONFIRMED in the reference, so the disk's state is
# read back afterwards (IsOffline, IsReadOnly) for the caller to check. Idempotent.
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$in = ConvertFrom-HvsnapInput $InputJson

$id = ([string]$in.uniqueId).ToUpperInvariant()
$disk = @(Get-Disk | Where-Object { ([string]$_.UniqueId).ToUpperInvariant() -eq $id })
if ($disk.Count -eq 0) { Stop-Hvsnap 'not_found' "no disk with page-83 id $id on $env:COMPUTERNAME after a rescan" @{ volume = $id } }
$d = $disk[0]
$collided = $false
# MSFT_Disk.OfflineReason 4: Collision (a signature or GUID another disk already has)
if ($d.IsOffline -and [int]$d.OfflineReason -eq 4) {
  if ([int]$d.PartitionStyle -eq 2) { Set-Disk -Number $d.Number -Guid ('{' + [guid]::NewGuid().ToString() + '}') }
  else { Set-Disk -Number $d.Number -Signature ([uint32](Get-Random -Minimum 1 -Maximum 2147483647)) }
  $collided = $true
}
if ($d.IsReadOnly) { Set-Disk -Number $d.Number -IsReadOnly $false }
if ($d.IsOffline) { Set-Disk -Number $d.Number -IsOffline $false }
$now = Get-Disk -Number $d.Number
$parts = @(Get-Partition -DiskNumber $d.Number | Where-Object { $_.Type -eq 'Basic' -or $_.MbrType -eq 7 } | Sort-Object Size -Descending)
if ($parts.Count -eq 0) { Stop-Hvsnap 'not_found' "disk $($d.Number) ($id) has no basic data partition" @{ volume = $id } }
$p = $parts[0]
$path = ([string]$in.accessPath).TrimEnd('\') + '\'
if (@($p.AccessPaths) -notcontains $path) {
  New-Item -ItemType Directory -Force -Path $path | Out-Null
  Add-PartitionAccessPath -DiskNumber $d.Number -PartitionNumber $p.PartitionNumber -AccessPath $path
}
ConvertTo-HvsnapJson ([ordered]@{ DiskNumber = [int]$d.Number; PartitionNumber = [int]$p.PartitionNumber; Collided = $collided; AccessPath = $path.TrimEnd('\'); IsOffline = [bool]$now.IsOffline; IsReadOnly = [bool]$now.IsReadOnly })
