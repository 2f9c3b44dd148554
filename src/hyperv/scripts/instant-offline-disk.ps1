# Takes a presented LUN offline again: refuses while a VM still has a disk below its access path,
# removes the access path, sets the disk offline. A disk that is gone is success.
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$in = ConvertFrom-HvsnapInput $InputJson

$id = ([string]$in.uniqueId).ToUpperInvariant()
$disk = @(Get-Disk | Where-Object { ([string]$_.UniqueId).ToUpperInvariant() -eq $id })
if ($disk.Count -eq 0) { ConvertTo-HvsnapJson ([ordered]@{ Gone = $true }); return }
$d = $disk[0]
$path = ([string]$in.accessPath).TrimEnd('\') + '\'
$users = @()
foreach ($vm in Get-HvsnapVms) {
  foreach ($vd in (Get-HvsnapDisks (Get-HvsnapRealizedSettings $vm))) {
    if (([string]$vd.Path).StartsWith($path, [StringComparison]::OrdinalIgnoreCase)) { $users += [string]$vm.ElementName }
  }
}
if ($users.Count -gt 0) { ConvertTo-HvsnapJson ([ordered]@{ Gone = $false; InUseBy = @($users | Select-Object -Unique) }); return }
foreach ($p in @(Get-Partition -DiskNumber $d.Number)) {
  if (@($p.AccessPaths) -contains $path) { Remove-PartitionAccessPath -DiskNumber $d.Number -PartitionNumber $p.PartitionNumber -AccessPath $path }
}
if (-not $d.IsOffline) { Set-Disk -Number $d.Number -IsOffline $true }
ConvertTo-HvsnapJson ([ordered]@{ Gone = $false; InUseBy = @() })
