# Destroys (merges) one recovery checkpoint. A VM or checkpoint that is already gone is success.
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$in = ConvertFrom-HvsnapInput $InputJson

$vm = @(Get-HvsnapVms | Where-Object { $_.Name -eq [string]$in.vmId })
# VmAbsent: the VM is not on this node (gone, or migrated): the caller looks for its new owner
if ($vm.Count -eq 0) { ConvertTo-HvsnapJson ([ordered]@{ Gone = $true; VmAbsent = $true }); return }
$snap = @(Get-HvsnapSnapshots $vm[0] | Where-Object { $_.InstanceID -eq [string]$in.snapshotId })
if ($snap.Count -eq 0) { ConvertTo-HvsnapJson ([ordered]@{ Gone = $true }); return }
$svc = Get-HvsnapService 'Msvm_VirtualSystemSnapshotService'
$call = Invoke-HvsnapMethod $svc 'DestroySnapshot' @{ AffectedSnapshot = $snap[0] } ([int]$in.waitMs)
ConvertTo-HvsnapJson ([ordered]@{ Gone = $false; VmName = $vm[0].ElementName; Result = $call.Result })
