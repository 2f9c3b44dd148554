# Converts a recovery checkpoint into a reference point (which merges the checkpoint) and records
# in.name and the time for it beside the VM configuration. Returns the existing one when in.name was
# converted already; with in.referencePointId (after a late job) it only records and describes.
# The disks are read after the conversion, from the merged base VHDX: whether a checkpoint's AVHDX
# carries the base's virtual disk id is not documented.
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$in = ConvertFrom-HvsnapInput $InputJson

$vm = Get-HvsnapVm $in.vmId
$names = Read-HvsnapNames $vm
$rps = Get-HvsnapReferencePoints $vm
$done = @($rps | Where-Object { $names[[string]$_.InstanceID] -eq [string]$in.name })
if ($done.Count -gt 0) {
  ConvertTo-HvsnapJson ([ordered]@{ ReferencePoint = (ConvertTo-HvsnapReferencePoint $done[0] $names); Disks = (Get-HvsnapDisks (Get-HvsnapRealizedSettings $vm)) })
  return
}
$result = $null
if ($in.referencePointId) {
  $rpId = [string]$in.referencePointId
} else {
  $snap = @(Get-HvsnapSnapshots $vm | Where-Object { $_.InstanceID -eq [string]$in.snapshotId })
  if ($snap.Count -eq 0) { Stop-Hvsnap 'not_found' "checkpoint $($in.snapshotId) of VM $($vm.ElementName) does not exist" @{ vm = $vm.ElementName } }
  $svc = Get-HvsnapService 'Msvm_VirtualSystemSnapshotService'
  $call = Invoke-HvsnapMethod $svc 'ConvertToReferencePoint' @{ AffectedSnapshot = $snap[0] } ([int]$in.waitMs) 'Msvm_VirtualSystemReferencePoint'
  $result = $call.Result
  if (-not $call.Ok) { ConvertTo-HvsnapJson ([ordered]@{ Result = $result }); return }
  $rpId = $null
  if ($null -ne $call.Out.ResultingReferencePoint) { $rpId = [string]$call.Out.ResultingReferencePoint.InstanceID }
  if (-not $rpId) { $rpId = @($result.Affected)[0] }
}
$names[$rpId] = [string]$in.name
$script:HvsnapCreated[$rpId] = (Get-Date).ToUniversalTime().ToString('o')
Write-HvsnapNames $vm $names
$rp = @(Get-HvsnapReferencePoints $vm | Where-Object { $_.InstanceID -eq $rpId })
if ($rp.Count -eq 0) { Stop-Hvsnap 'reference_point_failed' "reference point $rpId of VM $($vm.ElementName) is not listed after the conversion" @{ vm = $vm.ElementName } }
$disks = Get-HvsnapDisks (Get-HvsnapRealizedSettings $vm)
ConvertTo-HvsnapJson ([ordered]@{ Result = $result; ReferencePoint = (ConvertTo-HvsnapReferencePoint $rp[0] $names); Disks = $disks })
